//! [`EchoServer`]: a thread-per-connection echo server on a loopback port.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::wait::wait_until;

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
    shared: Arc<Shared>,
    addr: SocketAddr,
    threads: Mutex<Vec<JoinHandle<()>>>,
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

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    epoch: Instant,
}

impl Shared {
    fn close_all(&self) {
        for conn in self.lock().conns.values() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
    }
}

#[derive(Debug, Default)]
struct State {
    running: bool,
    accepted: u64,
    closed: u64,
    next_id: u64,
    idle_limit: Option<Duration>,
    conns: HashMap<u64, Conn>,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    last_active: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Starts a server on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// The error of binding or of starting its threads.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let server = Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                epoch: Instant::now(),
            }),
            addr: listener.local_addr()?,
            threads: Mutex::new(Vec::new()),
        };
        server.run(listener)?;
        Ok(server)
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counts, read together.
    pub fn counts(&self) -> Counts {
        self.shared.lock().counts()
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
        self.shared.lock().running
    }

    /// From now on, close (shut down) connections that received nothing for `limit`;
    /// `None` stops doing so. Checked every `limit / 4` (1 ms to 20 ms).
    pub fn close_idle_after(&self, limit: Option<Duration>) {
        self.shared.lock().idle_limit = limit;
        self.shared.changed.notify_all();
    }

    /// Shuts down every open connection now; the server keeps accepting.
    pub fn close_all(&self) {
        self.shared.close_all();
    }

    /// A handle that does what [`close_all`](Self::close_all) does, for a client task to
    /// call in the middle of a run.
    pub fn closer(&self) -> impl Fn() + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.close_all()
    }

    /// Blocks until `done` holds for the counts or `timeout` passes; returns whether it
    /// held. Woken by every accept and close, not by polling.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(Counts) -> bool) -> bool {
        let state = self.shared.lock();
        wait_until(state, &self.shared.changed, timeout, |s| done(s.counts())).is_some()
    }

    /// Stops the server: closes the listener (connects are refused) and every connection,
    /// and waits for its threads. The port stays reserved for [`restart`](Self::restart)
    /// only as far as the operating system does not hand it out again.
    pub fn stop(&self) {
        let conns = {
            let mut state = self.shared.lock();
            if !state.running {
                return;
            }
            state.running = false;
            let conns = std::mem::take(&mut state.conns);
            state.closed += conns.len() as u64;
            conns
        };
        self.shared.changed.notify_all();
        // Wake the acceptor, which sees `running == false` and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for (_, conn) in conns {
            let _ = conn.stream.shutdown(Shutdown::Both);
            if let Some(thread) = conn.thread {
                let _ = thread.join();
            }
        }
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// Starts a stopped server again on the same port.
    ///
    /// # Errors
    ///
    /// The error of binding (`AddrInUse` if another socket took the port meanwhile).
    pub fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.run(TcpListener::bind(self.addr)?)
    }

    fn run(&self, listener: TcpListener) -> io::Result<()> {
        self.shared.lock().running = true;
        let acceptor = {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("echo-accept".into())
                .spawn(move || shared.accept_loop(&listener))?
        };
        let reaper = {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("echo-reaper".into())
                .spawn(move || shared.reap_loop())?
        };
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        threads.extend([acceptor, reaper]);
        Ok(())
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn accept_loop(self: &Arc<Self>, listener: &TcpListener) {
        loop {
            let accepted = listener.accept();
            let mut state = self.lock();
            if !state.running {
                return;
            }
            let Ok((stream, _)) = accepted else {
                // Out of descriptors, say: back off a little instead of spinning.
                drop(state);
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let Ok(clone) = stream.try_clone() else {
                continue;
            };
            let id = state.next_id;
            state.next_id += 1;
            let last_active = Arc::new(AtomicU64::new(self.now()));
            let spawned = {
                let (shared, last_active) = (self.clone(), last_active.clone());
                std::thread::Builder::new()
                    .name("echo-conn".into())
                    .spawn(move || shared.serve(id, stream, &last_active))
            };
            // No thread: the stream is already dropped, the client sees it closed.
            let Ok(thread) = spawned else { continue };
            state.conns.insert(
                id,
                Conn {
                    stream: clone,
                    last_active,
                    thread: Some(thread),
                },
            );
            state.accepted += 1;
            drop(state);
            self.changed.notify_all();
        }
    }

    fn serve(&self, id: u64, mut stream: TcpStream, last_active: &AtomicU64) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            last_active.store(self.now(), Ordering::Relaxed);
            if stream.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        drop(stream);
        let conn = {
            let mut state = self.lock();
            let conn = state.conns.remove(&id);
            if conn.is_some() {
                state.closed += 1;
            }
            conn
        };
        // Closes the last descriptor of the socket before anyone is told.
        drop(conn);
        self.changed.notify_all();
    }

    fn reap_loop(&self) {
        let mut state = self.lock();
        while state.running {
            let tick = match state.idle_limit {
                None => Duration::from_millis(100),
                Some(limit) => {
                    let now = self.now();
                    let limit_ns = limit.as_nanos() as u64;
                    for conn in state.conns.values() {
                        let idle = now.saturating_sub(conn.last_active.load(Ordering::Relaxed));
                        if idle >= limit_ns {
                            let _ = conn.stream.shutdown(Shutdown::Both);
                        }
                    }
                    (limit / 4).clamp(Duration::from_millis(1), Duration::from_millis(20))
                }
            };
            state = self
                .changed
                .wait_timeout(state, tick)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl State {
    fn counts(&self) -> Counts {
        Counts {
            accepted: self.accepted,
            live: self.conns.len(),
            closed: self.closed,
        }
    }
}
