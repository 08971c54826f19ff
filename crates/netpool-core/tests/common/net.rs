//! Loopback TCP servers the tests start, and a manager of plain `std` TCP connections.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use netpool_core::Manager;

/// A loopback server on a free port that accepts and holds connections; `down` stops it
/// (closing every connection, refusing new ones), `up` starts it again on the same port.
/// Stopped when dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    run: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl Server {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let server = Self {
            addr: listener.local_addr().unwrap(),
            accepted: Arc::default(),
            run: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every connection.
    pub fn down(&self) {
        if let Some((stop, thread)) = self.run.lock().unwrap().take() {
            stop.store(true, Ordering::SeqCst);
            thread.join().unwrap();
        }
    }

    /// Listens again on the same port.
    pub fn up(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if std::time::Instant::now() < deadline => {
                    eprintln!("rebinding {}: {e}", self.addr);
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("could not rebind {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = self.accepted.clone();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        accepted.fetch_add(1, Ordering::SeqCst);
                        held.push(stream);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        *self.run.lock().unwrap() = Some((stop, thread));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.down();
    }
}

/// A manager of blocking `std` TCP connections to one address (connects on loopback
/// finish at once); `is_valid` can be made slow.
#[derive(Debug, Clone)]
pub struct Tcp {
    addr: SocketAddr,
    /// Connect attempts made.
    pub connects: Arc<AtomicUsize>,
    /// How long `is_valid` blocks.
    pub check_for: Arc<Mutex<Duration>>,
}

impl Tcp {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            connects: Arc::default(),
            check_for: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }
}

impl Manager for Tcp {
    type Connection = TcpStream;
    type Error = io::Error;

    async fn connect(&self) -> Result<TcpStream, io::Error> {
        self.connects.fetch_add(1, Ordering::SeqCst);
        TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
    }

    async fn is_valid(&self, _conn: &mut TcpStream) -> Result<(), io::Error> {
        let pause = *self.check_for.lock().unwrap();
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
        Ok(())
    }

    fn has_broken(&self, _conn: &mut TcpStream) -> bool {
        false
    }
}

/// `n` servers and a manager per key (key `k` connects to server `k`).
#[derive(Debug)]
pub struct Cluster {
    pub servers: Vec<Server>,
    pub managers: Vec<Tcp>,
}

impl Cluster {
    pub fn start(n: usize) -> Self {
        let servers: Vec<Server> = (0..n).map(|_| Server::start()).collect();
        let managers = servers.iter().map(|s| Tcp::new(s.addr())).collect();
        Self { servers, managers }
    }

    /// `n` servers and a keyed pool over them: `max_size` per key, `max_total` in all,
    /// and what `more` sets.
    pub fn capped(
        n: usize,
        max_size: usize,
        max_total: usize,
        more: impl FnOnce(netpool_core::KeyedBuilder) -> netpool_core::KeyedBuilder,
    ) -> (Self, netpool_core::KeyedPool<usize, Tcp>) {
        let cluster = Self::start(n);
        let builder = netpool_core::KeyedPool::builder()
            .max_size(max_size)
            .max_total(max_total);
        let pool = cluster.pool(more(builder));
        (cluster, pool)
    }

    /// A keyed pool over these servers.
    pub fn pool(&self, builder: netpool_core::KeyedBuilder) -> netpool_core::KeyedPool<usize, Tcp> {
        let managers = self.managers.clone();
        builder
            .build(move |key: &usize| managers[*key].clone())
            .expect("a valid test config")
    }

    /// Connect attempts made to server `k`.
    pub fn connects(&self, k: usize) -> usize {
        self.managers[k].connects.load(Ordering::SeqCst)
    }

    /// Connect attempts made to all servers.
    pub fn all_connects(&self) -> usize {
        (0..self.managers.len()).map(|k| self.connects(k)).sum()
    }
}
