//! The thread-per-connection loopback server that [`EchoServer`](crate::EchoServer) and
//! [`TlsEchoServer`](crate::TlsEchoServer) are made of: the acceptor, the table of open
//! connections and their threads, the counts every server keeps, and stopping and
//! restarting on the same port. A [`Service`] says what is done with each connection.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::wait::wait_until;

/// What a [`Server`] does with its connections.
pub(crate) trait Service: fmt::Debug + Send + Sync + Sized + 'static {
    /// What a connection's thread shares with the server (its last activity, a command).
    type Handle: fmt::Debug + Clone + Send + 'static;
    /// The service's own counts and settings, kept under the server's lock.
    type State: fmt::Debug + Default + Send + 'static;
    /// The prefix of the server's thread names (`echo`: `echo-accept`, `echo-conn`).
    const NAME: &'static str;

    /// A new connection's handle.
    fn handle(&self) -> Self::Handle;

    /// Serves one connection until it ends, and drops its stream.
    fn serve(core: &Core<Self>, stream: TcpStream, handle: &Self::Handle);

    /// Starts the service's own threads beside the acceptor; each returns once the server
    /// stops running. None by default.
    ///
    /// # Errors
    ///
    /// The error of starting a thread.
    fn start_helpers(core: &Arc<Core<Self>>) -> io::Result<Vec<JoinHandle<()>>> {
        let _ = core;
        Ok(Vec::new())
    }
}

/// A server on a loopback port, running `S` on each connection it accepts. Dropping it
/// stops it.
#[derive(Debug)]
pub(crate) struct Server<S: Service> {
    pub(crate) core: Arc<Core<S>>,
    addr: SocketAddr,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// What a [`Server`]'s threads share.
#[derive(Debug)]
pub(crate) struct Core<S: Service> {
    pub(crate) service: S,
    state: Mutex<State<S>>,
    /// Notified on every accept and close (and whatever else the service reports).
    pub(crate) changed: Condvar,
}

/// A [`Server`]'s state, under its lock.
#[derive(Debug)]
pub(crate) struct State<S: Service> {
    pub(crate) running: bool,
    /// Connections accepted since the server was created (across restarts).
    pub(crate) accepted: u64,
    /// Connections closed so far, by either side.
    pub(crate) closed: u64,
    /// The most connections open at once.
    pub(crate) peak: usize,
    next_id: u64,
    pub(crate) conns: HashMap<u64, Conn<S::Handle>>,
    /// The service's own.
    pub(crate) own: S::State,
}

/// An open connection: a clone of its stream (to shut it down), its handle and thread.
#[derive(Debug)]
pub(crate) struct Conn<H> {
    pub(crate) stream: TcpStream,
    pub(crate) handle: H,
    thread: Option<JoinHandle<()>>,
}

impl<S: Service> Server<S> {
    /// Starts `service` on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// The error of binding or of starting its threads.
    pub(crate) fn start(service: S) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let server = Self {
            core: Arc::new(Core {
                service,
                state: Mutex::new(State {
                    running: false,
                    accepted: 0,
                    closed: 0,
                    peak: 0,
                    next_id: 0,
                    conns: HashMap::new(),
                    own: S::State::default(),
                }),
                changed: Condvar::new(),
            }),
            addr: listener.local_addr()?,
            threads: Mutex::new(Vec::new()),
        };
        server.run(listener)?;
        Ok(server)
    }

    /// The address clients connect to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server is accepting connections.
    pub(crate) fn is_running(&self) -> bool {
        self.core.lock().running
    }

    /// Blocks until `done` holds for the state or `timeout` passes; returns whether it
    /// held. Woken by [`Core::changed`], not by polling.
    pub(crate) fn wait_until(
        &self,
        timeout: Duration,
        done: impl FnMut(&State<S>) -> bool,
    ) -> bool {
        wait_until(self.core.lock(), &self.core.changed, timeout, done).is_some()
    }

    /// Stops the server: closes the listener (connects are refused) and every connection,
    /// and waits for its threads.
    pub(crate) fn stop(&self) {
        let conns = {
            let mut state = self.core.lock();
            if !state.running {
                return;
            }
            state.running = false;
            let conns = std::mem::take(&mut state.conns);
            state.closed += conns.len() as u64;
            conns
        };
        self.core.changed.notify_all();
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
    pub(crate) fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.run(TcpListener::bind(self.addr)?)
    }

    fn run(&self, listener: TcpListener) -> io::Result<()> {
        self.core.lock().running = true;
        let acceptor = {
            let core = self.core.clone();
            std::thread::Builder::new()
                .name(format!("{}-accept", S::NAME))
                .spawn(move || core.accept_loop(&listener))?
        };
        let helpers = S::start_helpers(&self.core)?;
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        threads.push(acceptor);
        threads.extend(helpers);
        Ok(())
    }
}

impl<S: Service> Drop for Server<S> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl<S: Service> Core<S> {
    /// The state, locked (a panicked holder's state is used as it is).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
            let handle = self.service.handle();
            let spawned = {
                let (core, handle) = (self.clone(), handle.clone());
                std::thread::Builder::new()
                    .name(format!("{}-conn", S::NAME))
                    .spawn(move || core.serve(id, stream, &handle))
            };
            // No thread: the stream is already dropped, the client sees it closed.
            let Ok(thread) = spawned else { continue };
            state.conns.insert(
                id,
                Conn {
                    stream: clone,
                    handle,
                    thread: Some(thread),
                },
            );
            state.accepted += 1;
            state.peak = state.peak.max(state.conns.len());
            drop(state);
            self.changed.notify_all();
        }
    }

    fn serve(&self, id: u64, stream: TcpStream, handle: &S::Handle) {
        S::serve(self, stream, handle);
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
}
