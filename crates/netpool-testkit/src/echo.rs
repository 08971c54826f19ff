//! [`EchoServer`]: a thread-per-connection echo server on a loopback port.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::server::{Core, Server, Service, State};

/// An echo server on `127.0.0.1`, with the counts and controls that pool tests need.
///
/// Every byte received is written back. The server counts accepted connections and the
/// ones still open, can close connections that sat idle too long, and can be stopped and
/// restarted on the same port. Every method takes `&self`, so it can be shared in an
/// `Arc` by many clients. Dropping it stops it.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use netpool_testkit::EchoServer;
///
/// let server = EchoServer::start()?;
/// let mut conn = std::net::TcpStream::connect(server.addr())?;
/// conn.write_all(b"hi")?;
/// let mut reply = [0; 2];
/// conn.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"hi");
/// assert_eq!(server.accepted(), 1);
///
/// server.stop(); // closes the listener and every connection
/// assert_eq!(conn.read(&mut reply)?, 0); // end of stream
/// assert!(std::net::TcpStream::connect(server.addr()).is_err());
/// server.restart()?; // same port
/// let _again = std::net::TcpStream::connect(server.addr())?;
/// assert!(server.wait_until(Duration::from_secs(5), |c| c.accepted == 2));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct EchoServer {
    server: Server<Echo>,
}

/// A snapshot of an [`EchoServer`]'s counts.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Connections accepted since the server was created (across restarts).
    pub accepted: u64,
    /// Connections open now.
    pub live: usize,
    /// Connections closed so far, by either side.
    pub closed: u64,
}

/// The echo [`Service`]: a connection's handle is the time of its last read.
#[derive(Debug)]
struct Echo {
    epoch: Instant,
}

/// The echo server's own settings.
#[derive(Debug, Default)]
struct Settings {
    idle_limit: Option<Duration>,
}

impl EchoServer {
    /// Starts a server on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// The error of binding or of starting its threads.
    pub fn start() -> io::Result<Self> {
        let echo = Echo {
            epoch: Instant::now(),
        };
        Ok(Self {
            server: Server::start(echo)?,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The counts, read together.
    pub fn counts(&self) -> Counts {
        counts(&self.server.core.lock())
    }

    /// Connections accepted since the server was created.
    pub fn accepted(&self) -> u64 {
        self.counts().accepted
    }

    /// Connections open now.
    pub fn live(&self) -> usize {
        self.counts().live
    }

    /// Whether the server is accepting connections.
    pub fn is_running(&self) -> bool {
        self.server.is_running()
    }

    /// From now on, close (shut down) connections that received nothing for `limit`;
    /// `None` stops doing so. Checked every `limit / 4` (1 ms to 20 ms).
    pub fn close_idle_after(&self, limit: Option<Duration>) {
        self.server.core.lock().own.idle_limit = limit;
        self.server.core.changed.notify_all();
    }

    /// Shuts down every open connection now; the server keeps accepting.
    pub fn close_all(&self) {
        close_all(&self.server.core);
    }

    /// A handle that does what [`close_all`](Self::close_all) does, for a client task to
    /// call in the middle of a run.
    pub fn closer(&self) -> impl Fn() + Send + Sync + 'static {
        let core = self.server.core.clone();
        move || close_all(&core)
    }

    /// Blocks until `done` holds for the counts or `timeout` passes; returns whether it
    /// held. Woken by every accept and close, not by polling.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(Counts) -> bool) -> bool {
        self.server.wait_until(timeout, |s| done(counts(s)))
    }

    /// Stops the server: closes the listener (connects are refused) and every connection,
    /// and waits for its threads. The port stays reserved for [`restart`](Self::restart)
    /// only as far as the operating system does not hand it out again.
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Starts a stopped server again on the same port.
    ///
    /// # Errors
    ///
    /// The error of binding (`AddrInUse` if another socket took the port meanwhile).
    pub fn restart(&self) -> io::Result<()> {
        self.server.restart()
    }
}

impl Echo {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

impl Service for Echo {
    type Handle = Arc<AtomicU64>;
    type State = Settings;
    const NAME: &'static str = "echo";

    fn handle(&self) -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(self.now()))
    }

    fn serve(core: &Core<Self>, mut stream: TcpStream, last_active: &Arc<AtomicU64>) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            last_active.store(core.service.now(), Ordering::Relaxed);
            if stream.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    }

    fn start_helpers(core: &Arc<Core<Self>>) -> io::Result<Vec<JoinHandle<()>>> {
        let core = core.clone();
        let reaper = std::thread::Builder::new()
            .name("echo-reaper".into())
            .spawn(move || reap_loop(&core))?;
        Ok(vec![reaper])
    }
}

/// Shuts down every open connection.
fn close_all(core: &Core<Echo>) {
    for conn in core.lock().conns.values() {
        let _ = conn.stream.shutdown(Shutdown::Both);
    }
}

/// Shuts down the connections idle for longer than the limit, while the server runs.
fn reap_loop(core: &Core<Echo>) {
    let mut state = core.lock();
    while state.running {
        let tick = match state.own.idle_limit {
            None => Duration::from_millis(100),
            Some(limit) => {
                let now = core.service.now();
                let limit_ns = limit.as_nanos() as u64;
                for conn in state.conns.values() {
                    let idle = now.saturating_sub(conn.handle.load(Ordering::Relaxed));
                    if idle >= limit_ns {
                        let _ = conn.stream.shutdown(Shutdown::Both);
                    }
                }
                (limit / 4).clamp(Duration::from_millis(1), Duration::from_millis(20))
            }
        };
        state = core
            .changed
            .wait_timeout(state, tick)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn counts(state: &State<Echo>) -> Counts {
    Counts {
        accepted: state.accepted,
        live: state.conns.len(),
        closed: state.closed,
    }
}
