//! [`ChaosProxy`]: a fault-injecting TCP proxy on a loopback port, and the chaos
//! [`scenario`]s the adapters' tests share.
//!
//! The proxy sits between a pool and a real server (an [`EchoServer`](crate::EchoServer),
//! say) and, at run time, passes traffic through, refuses connections, resets them,
//! swallows them, stalls or delays connects, or cuts every established connection. It
//! counts the connections it accepts, so a test can tell how many connects the pool made.
//!
//! Everything runs on plain threads, so tests on any runtime can use it. Every blocking
//! call the proxy makes is bounded (a read wakes at least every 250 ms to see whether the
//! proxy stopped), and dropping the proxy stops it and joins its threads.

pub mod scenario;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

use crate::wait::wait_until;

/// How long a relay's read blocks before it looks whether the proxy stopped.
const READ_TICK: Duration = Duration::from_millis(250);
/// Bound on the proxy's own connect to the upstream server.
const UPSTREAM_CONNECT: Duration = Duration::from_secs(1);

/// What the proxy does with new connections; set with [`ChaosProxy::set_mode`].
///
/// A change applies to connections that arrive from then on; established connections
/// keep going (cut them with [`ChaosProxy::cut_all`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Accept and relay to the upstream server, both ways.
    Pass,
    /// Close the listening socket: connects fail at once with "connection refused", as
    /// when the server is down. The port is bound again when the mode leaves `Refuse`.
    /// The proxy cannot see (or count) refused attempts.
    Refuse,
    /// Accept, then close with `SO_LINGER` 0 so the client gets a reset. The client's
    /// connect succeeds (the handshake is done by the kernel before the accept); its
    /// first read or write fails.
    Reset,
    /// Accept and never answer: bytes sent are read and dropped, nothing comes back, and
    /// the connection stays open until the client closes it or it is cut.
    Blackhole,
    /// Stall connects: the proxy listens with a full accept queue, so the kernel drops
    /// new SYNs and a connect neither succeeds nor fails until the client's timeout, as
    /// with a host that vanished. Stalled attempts are not counted.
    Stall,
    /// Accept, wait this long (a slow server), then relay as in `Pass`.
    Delay(Duration),
}

/// A snapshot of a [`ChaosProxy`]'s counts.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyCounts {
    /// Connections accepted since the proxy started, in every mode (connection attempts
    /// that reached the proxy; refused and stalled ones never do).
    pub accepted: u64,
    /// Client connections open now (relayed, delayed or blackholed).
    pub live: usize,
    /// The most client connections that were open at once, since the start or the last
    /// [`ChaosProxy::reset_peak`].
    pub peak: usize,
    /// Connections closed by [`ChaosProxy::cut_all`] so far.
    pub cut: u64,
}

/// A fault-injecting TCP proxy on `127.0.0.1`, in front of an upstream server.
///
/// Every method takes `&self`, so one proxy can be shared by a test's controller and its
/// clients. Dropping it stops it: the listener is closed, every connection is cut and
/// every thread joined.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
/// use netpool_testkit::EchoServer;
/// use netpool_testkit::chaos::{ChaosProxy, Mode};
///
/// let server = EchoServer::start()?;
/// let proxy = ChaosProxy::start(server.addr())?;
///
/// let mut conn = TcpStream::connect(proxy.addr())?;
/// conn.write_all(b"hi")?;
/// let mut reply = [0; 2];
/// conn.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"hi");
///
/// proxy.cut_all(); // the connection is cut: end of stream
/// assert_eq!(conn.read(&mut reply)?, 0);
///
/// proxy.set_mode(Mode::Refuse)?; // the server "goes down"
/// assert!(TcpStream::connect(proxy.addr()).is_err());
/// proxy.set_mode(Mode::Pass)?; // and comes back, on the same port
/// let _again = TcpStream::connect(proxy.addr())?;
/// assert!(proxy.wait_until(std::time::Duration::from_secs(5), |c| c.accepted == 2));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ChaosProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    control: Mutex<Control>,
}

/// The listening side, changed only under the `control` lock.
#[derive(Debug)]
struct Control {
    listener: Option<Listening>,
    stall: Option<Stalled>,
}

/// A listening socket and the thread accepting on it.
#[derive(Debug)]
struct Listening {
    socket: Arc<Socket>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// A listening socket whose accept queue is full.
#[derive(Debug)]
struct Stalled {
    _listener: Socket,
    _fillers: Vec<TcpStream>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    stopped: bool,
    accepted: u64,
    cut: u64,
    peak: usize,
    reply_delay: Duration,
    next_id: u64,
    conns: HashMap<u64, Conn>,
    threads: Vec<JoinHandle<()>>,
}

/// An open client connection: clones of its sockets, to cut it from outside.
#[derive(Debug)]
struct Conn {
    client: TcpStream,
    upstream: Option<TcpStream>,
}

impl ChaosProxy {
    /// Starts a proxy on `127.0.0.1` and a free port, relaying to `upstream`, in
    /// [`Mode::Pass`].
    ///
    /// # Errors
    ///
    /// The error of binding the port or of starting the accepting thread.
    pub fn start(upstream: SocketAddr) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State {
                mode: Mode::Pass,
                stopped: false,
                accepted: 0,
                cut: 0,
                peak: 0,
                reply_delay: Duration::ZERO,
                next_id: 0,
                conns: HashMap::new(),
                threads: Vec::new(),
            }),
            changed: Condvar::new(),
        });
        let socket = bind(SocketAddr::from(([127, 0, 0, 1], 0)), 128)?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))?;
        let listener = Listening::spawn(socket, &shared)?;
        Ok(Self {
            addr,
            shared,
            control: Mutex::new(Control {
                listener: Some(listener),
                stall: None,
            }),
        })
    }

    /// The address clients connect to (it stays the same across modes).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream server's address.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.shared.lock().mode
    }

    /// Switches to `mode` for connections that arrive from now on. When it returns, the
    /// port is in the new state: bound and accepting, closed ([`Mode::Refuse`]) or
    /// stalled ([`Mode::Stall`], which takes up to about 100 ms to fill its queue).
    ///
    /// # Errors
    ///
    /// The error of binding the port again (`AddrInUse` if another socket took it while
    /// it was closed), or of filling the stalled queue.
    pub fn set_mode(&self, mode: Mode) -> io::Result<()> {
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        self.shared.lock().mode = mode;
        match mode {
            Mode::Refuse => {
                control.stop_listening(self.addr);
                control.stall = None;
            }
            Mode::Stall => {
                control.stop_listening(self.addr);
                if control.stall.is_none() {
                    control.stall = Some(Stalled::bind(self.addr)?);
                }
            }
            Mode::Pass | Mode::Reset | Mode::Blackhole | Mode::Delay(_) => {
                control.stall = None;
                if control.listener.is_none() {
                    let socket = bind_again(self.addr)?;
                    control.listener = Some(Listening::spawn(socket, &self.shared)?);
                }
            }
        }
        Ok(())
    }

    /// Delays every chunk of bytes the upstream sends back by `delay` (a slow server), so
    /// that requests stay in flight long enough to be cut. `Duration::ZERO` turns it off.
    /// Applies at once, to established connections too.
    pub fn set_reply_delay(&self, delay: Duration) {
        self.shared.lock().reply_delay = delay;
        self.shared.changed.notify_all();
    }

    /// Cuts every established connection now (both directions shut down: the client sees
    /// end of stream); returns how many. The proxy keeps its mode.
    pub fn cut_all(&self) -> usize {
        let conns = {
            let mut state = self.shared.lock();
            let conns = std::mem::take(&mut state.conns);
            state.cut += conns.len() as u64;
            conns
        };
        for conn in conns.values() {
            conn.shutdown();
        }
        self.shared.changed.notify_all();
        conns.len()
    }

    /// The counts, read together.
    pub fn counts(&self) -> ProxyCounts {
        self.shared.lock().counts()
    }

    /// Connections accepted since the proxy started.
    pub fn accepted(&self) -> u64 {
        self.counts().accepted
    }

    /// Client connections open now.
    pub fn live(&self) -> usize {
        self.counts().live
    }

    /// The most client connections that were open at once.
    pub fn peak(&self) -> usize {
        self.counts().peak
    }

    /// Restarts the [`peak`](Self::peak) from the connections open now.
    pub fn reset_peak(&self) {
        let mut state = self.shared.lock();
        state.peak = state.conns.len();
    }

    /// Blocks until `done` holds for the counts or `timeout` passes; returns whether it
    /// held. Woken by every accept, close and cut, not by polling.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(ProxyCounts) -> bool) -> bool {
        let state = self.shared.lock();
        wait_until(state, &self.shared.changed, timeout, |s| done(s.counts())).is_some()
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.changed.notify_all();
        {
            let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
            control.stop_listening(self.addr);
            control.stall = None;
        }
        self.cut_all();
        let threads = std::mem::take(&mut self.shared.lock().threads);
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Control {
    /// Closes the listening socket and joins its thread.
    fn stop_listening(&mut self, addr: SocketAddr) {
        let Some(listening) = self.listener.take() else {
            return;
        };
        listening.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept: shutting a listener down does on Linux; a connect
        // does everywhere (the acceptor sees `stop` and drops it uncounted).
        let _ = listening.socket.shutdown(Shutdown::Both);
        let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        let _ = listening.thread.join();
    }
}

impl Listening {
    fn spawn(socket: Socket, shared: &Arc<Shared>) -> io::Result<Self> {
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (socket, stop, shared) = (socket.clone(), stop.clone(), shared.clone());
            std::thread::Builder::new()
                .name("chaos-accept".into())
                .spawn(move || shared.accept_loop(&socket, &stop))?
        };
        Ok(Self {
            socket,
            stop,
            thread,
        })
    }
}

impl Stalled {
    /// Listens on `addr` with a backlog of zero and fills the accept queue, so that the
    /// kernel drops further SYNs.
    fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = bind_again_with_backlog(addr, 0)?;
        let mut fillers = Vec::new();
        for _ in 0..64 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(50)) {
                Ok(stream) => fillers.push(stream),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Ok(Self {
                        _listener: listener,
                        _fillers: fillers,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("the accept queue never filled"))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn accept_loop(self: &Arc<Self>, listener: &Socket, stop: &AtomicBool) {
        // Bounded: each accept returns a connection or an error, and the loop ends when
        // `stop` is set (which also wakes the accept) or the listener fails for good.
        let mut errors = 0u32;
        loop {
            let accepted = listener.accept();
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let client: TcpStream = match accepted {
                Ok((socket, _)) => {
                    errors = 0;
                    socket.into()
                }
                Err(_) if errors < 100 => {
                    // Out of descriptors, say: back off a little instead of spinning.
                    errors += 1;
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(_) => return,
            };
            self.admit(client);
        }
    }

    /// Handles one accepted connection according to the mode.
    fn admit(self: &Arc<Self>, client: TcpStream) {
        let mut state = self.lock();
        if state.stopped {
            return;
        }
        state.accepted += 1;
        let mode = state.mode;
        if matches!(mode, Mode::Reset | Mode::Refuse | Mode::Stall) {
            drop(state);
            // An abortive close: the client gets a reset instead of an end of stream.
            let _ = SockRef::from(&client).set_linger(Some(Duration::ZERO));
            drop(client);
            self.changed.notify_all();
            return;
        }
        let Ok(clone) = client.try_clone() else {
            return;
        };
        let _ = client.set_read_timeout(Some(READ_TICK));
        let id = state.next_id;
        state.next_id += 1;
        state.conns.insert(
            id,
            Conn {
                client: clone,
                upstream: None,
            },
        );
        state.peak = state.peak.max(state.conns.len());
        let spawned = {
            let shared = self.clone();
            std::thread::Builder::new()
                .name("chaos-conn".into())
                .spawn(move || match mode {
                    Mode::Blackhole => shared.swallow(id, client),
                    Mode::Delay(d) => {
                        if shared.pause(id, d) {
                            shared.relay(id, client);
                        } else {
                            shared.close(id);
                        }
                    }
                    _ => shared.relay(id, client),
                })
        };
        match spawned {
            Ok(thread) => {
                state.threads.retain(|t| !t.is_finished());
                state.threads.push(thread);
            }
            Err(_) => {
                if let Some(conn) = state.conns.remove(&id) {
                    conn.shutdown();
                }
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Blackhole: reads and drops everything until the client closes or it is cut.
    fn swallow(&self, id: u64, mut client: TcpStream) {
        let mut buf = [0u8; 4096];
        while self.is_open(id) {
            match client.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_tick(&e) => {}
                Err(_) => break,
            }
        }
        self.close(id);
    }

    /// Connects upstream and copies both ways until either side closes or it is cut.
    fn relay(self: &Arc<Self>, id: u64, mut client: TcpStream) {
        let Ok(upstream) = TcpStream::connect_timeout(&self.upstream, UPSTREAM_CONNECT) else {
            self.close(id);
            return;
        };
        let _ = upstream.set_nodelay(true);
        let _ = client.set_nodelay(true);
        let _ = upstream.set_read_timeout(Some(READ_TICK));
        let (Ok(registered), Ok(mut up_read), Ok(mut client_write)) = (
            upstream.try_clone(),
            upstream.try_clone(),
            client.try_clone(),
        ) else {
            self.close(id);
            return;
        };
        {
            let mut state = self.lock();
            match state.conns.get_mut(&id) {
                Some(conn) => conn.upstream = Some(registered),
                None => return, // cut meanwhile
            }
        }
        let back = {
            let shared = self.clone();
            std::thread::Builder::new()
                .name("chaos-reply".into())
                .spawn(move || {
                    shared.copy(id, &mut up_read, &mut client_write, true);
                    shared.close(id);
                })
        };
        match back {
            Ok(thread) => self.lock().threads.push(thread),
            Err(_) => {
                self.close(id);
                return;
            }
        }
        let mut upstream = upstream;
        self.copy(id, &mut client, &mut upstream, false);
        self.close(id);
    }

    /// Copies `from` to `to` until end of stream, an error, or the connection is cut.
    fn copy(&self, id: u64, from: &mut TcpStream, to: &mut TcpStream, reply: bool) {
        let mut buf = [0u8; 16 * 1024];
        while self.is_open(id) {
            let n = match from.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if is_tick(&e) => continue,
                Err(_) => return,
            };
            if reply {
                let delay = self.lock().reply_delay;
                if !delay.is_zero() && !self.pause(id, delay) {
                    return;
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    }

    /// Waits `delay`; `false` if the connection was cut or the proxy stopped meanwhile.
    fn pause(&self, id: u64, delay: Duration) -> bool {
        let cut = |s: &State| s.stopped || !s.conns.contains_key(&id);
        wait_until(self.lock(), &self.changed, delay, cut).is_none()
    }

    fn is_open(&self, id: u64) -> bool {
        let state = self.lock();
        !state.stopped && state.conns.contains_key(&id)
    }

    /// Closes connection `id` (if not cut already) and tells the waiters.
    fn close(&self, id: u64) {
        let conn = self.lock().conns.remove(&id);
        if let Some(conn) = conn {
            conn.shutdown();
        }
        self.changed.notify_all();
    }
}

impl State {
    fn counts(&self) -> ProxyCounts {
        ProxyCounts {
            accepted: self.accepted,
            live: self.conns.len(),
            peak: self.peak,
            cut: self.cut,
        }
    }
}

impl Conn {
    fn shutdown(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        if let Some(upstream) = &self.upstream {
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
}

/// Whether a read error is only the periodic wake-up of [`READ_TICK`].
fn is_tick(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A listening socket on `addr` with `SO_REUSEADDR`, so the port can be bound again
/// while connections accepted on it are still open.
fn bind(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket)
}

fn bind_again(addr: SocketAddr) -> io::Result<Socket> {
    bind_again_with_backlog(addr, 128)
}

/// Binds the proxy's own port again, retrying briefly: the socket closed a moment ago may
/// still be on its way out.
fn bind_again_with_backlog(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
    let mut tries = 0;
    loop {
        match bind(addr, backlog) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}
