//! [`TcpManager`] and [`UnixManager`]: the managers of every adapter, written once and
//! generic over its [`Runtime`].

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use netpool_core::{Manager, WeakPool};
use socket2::SockRef;

use crate::dns::{Watch, Watched};
use crate::{
    Address, AddressError, AsSockRef, IntoAddress, NetError, Resolver, Runtime, TcpOptions,
    check_alive,
};

/// A [`Manager`] of TCP streams of runtime `R`; each adapter names it `TcpManager`.
///
/// The address is resolved on every connect (so a name that moves is followed) and each
/// resolved address is tried in turn, each attempt bounded by
/// [`TcpOptions::connect_timeout`]. New streams get `TCP_NODELAY` and keepalive.
///
/// `is_valid` peeks without blocking: end of stream, a reset or pending bytes fail it.
/// `has_broken` does the same peek (one non-blocking `recv`, nothing consumed) when a
/// connection comes back, so one the server closed or reset while it was checked out, or
/// one with a reply left unread, is closed instead of handed to the next caller. After an
/// I/O error you handle, close it yourself with
/// [`Pooled::discard`](netpool_core::Pooled::discard).
///
/// The address can be changed while the pool runs ([`set_addr`](Self::set_addr)): the
/// connections opened after the change go to the new address, the open ones stay until
/// they are closed (see there for retiring them). With a
/// [resolve interval](Self::with_resolve_interval), the name is also resolved again in
/// the background, and the connections to an address that left the answer are drained
/// (closed when idle or when they come back) after a drain window. Names are resolved
/// by the runtime (the system's resolver) or by a [`Resolver`] of your own.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::EchoServer::start()?;
/// # let addr = server.addr().to_string();
/// use netpool_std::{TcpManager, TcpOptions};
///
/// let manager = TcpManager::new(addr).with_options(TcpOptions::new().nodelay(false));
/// let pool = netpool_core::Pool::builder().build(manager)?;
/// let conn = pool.get_blocking()?;
/// assert!(!conn.nodelay()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A connection the server closed while it was checked out is closed when it comes back:
///
/// ```
/// use netpool_core::Manager;
/// use netpool_std::TcpManager;
///
/// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let manager = TcpManager::new(server.local_addr()?.to_string());
/// let pool = netpool_core::Pool::builder().build(manager.clone())?;
/// let mut conn = pool.get_blocking()?;
/// assert!(!manager.has_broken(&mut conn)); // alive
/// drop(server.accept()?); // the server closes its end
/// # let start = std::time::Instant::now();
/// # while !manager.has_broken(&mut conn) && start.elapsed().as_secs() < 5 {
/// #     std::thread::sleep(std::time::Duration::from_millis(1)); // the FIN is on its way
/// # }
/// assert!(manager.has_broken(&mut conn)); // the peek sees the end of stream
/// drop(conn);
/// assert_eq!(pool.stats().closed_broken, 1); // closed, not reused
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpManager<R> {
    target: RwLock<Target>,
    options: TcpOptions,
    resolver: Option<Resolver>,
    watch: Watch,
    runtime: PhantomData<fn() -> R>,
}

/// A [`Manager`] of Unix-domain streams of runtime `R`; each adapter names it
/// `UnixManager`.
///
/// The connect is bounded by a timeout (10 s by default); `is_valid` and `has_broken`
/// peek as [`TcpManager`]'s do.
#[cfg(unix)]
pub struct UnixManager<R> {
    path: PathBuf,
    connect_timeout: Option<Duration>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> TcpManager<R> {
    /// A manager for `addr` (`"host:port"`, a socket address or a `(host, port)` pair:
    /// see [`IntoAddress`]), with the default [`TcpOptions`]. A malformed address fails
    /// every connect with [`NetError::Address`]; the adapters' `tcp(..)` builders reject
    /// it at build time instead.
    pub fn new(addr: impl IntoAddress) -> Self {
        let addr = addr.into_address();
        let parsed = Address::parse(&addr);
        Self {
            target: RwLock::new(Target { addr, parsed }),
            options: TcpOptions::default(),
            resolver: None,
            watch: Watch::new(),
            runtime: PhantomData,
        }
    }

    /// A manager for an address already checked.
    pub fn from_address(address: Address) -> Self {
        Self {
            target: RwLock::new(Target {
                addr: address.to_string(),
                parsed: Ok(address),
            }),
            options: TcpOptions::default(),
            resolver: None,
            watch: Watch::new(),
            runtime: PhantomData,
        }
    }

    /// Points the manager at another address while the pool runs: every connect from now
    /// on goes there (a failover, a moved service). Connections already open are not
    /// touched: [`Pool::refresh`](netpool_core::Pool::refresh) replaces them all without
    /// failing a caller (idle ones now, checked-out ones when they come back). With a
    /// [resolve interval](Self::with_resolve_interval), the old address leaves the answer
    /// at the next re-resolution and its connections drain after the drain window, as
    /// when a name moves. To retire only the idle ones connected elsewhere:
    /// `pool.retain(|conn, _| conn.peer_addr().is_ok_and(|a| a == new))`.
    ///
    /// # Errors
    ///
    /// [`AddressError`] for an address that is not `"host:port"`; the old address is
    /// kept then.
    ///
    /// # Examples
    ///
    /// ```
    /// # let (old, new) = (netpool_testkit::EchoServer::start()?, netpool_testkit::EchoServer::start()?);
    /// # let (old, new) = (old.addr(), new.addr());
    /// let pool = netpool_std::tcp(old).build()?;
    /// let first = pool.get_blocking()?;
    /// pool.manager().set_addr(new)?;
    /// let second = pool.get_blocking()?; // new connections go there
    /// assert_eq!(second.peer_addr()?, new);
    /// pool.refresh(); // the idle ones go now, `first` when it comes back
    /// drop((first, second));
    /// assert_eq!(pool.stats().connections, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_addr(&self, addr: impl IntoAddress) -> Result<(), AddressError> {
        let addr = addr.into_address();
        let parsed = Address::parse(&addr)?;
        *self.target.write().unwrap_or_else(PoisonError::into_inner) = Target {
            addr,
            parsed: Ok(parsed),
        };
        Ok(())
    }

    /// Replaces the socket options.
    pub fn with_options(mut self, options: TcpOptions) -> Self {
        self.options = options;
        self
    }

    /// Resolves host names with `resolver` instead of the runtime's (the system's)
    /// resolver: on every connect, and in the re-resolution.
    pub fn with_resolver(mut self, resolver: Resolver) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Resolves the name again every `interval` (default `None`: only at connect) and
    /// drains the connections to an address that left the answer, once it has stayed out
    /// for the drain window ([`with_drain_window`](Self::with_drain_window)): idle ones
    /// are closed then, checked-out ones when they come back. See
    /// [`TcpBuilder::resolve_interval`](crate::TcpBuilder::resolve_interval), which also
    /// starts the task that does it; with a manager built by hand, spawn
    /// [`resolve_loop`](Self::resolve_loop) yourself.
    pub fn with_resolve_interval(mut self, interval: Option<Duration>) -> Self {
        self.watch = Watch::with(interval, self.watch.drain);
        self
    }

    /// How long an address must stay out of the answer before the connections to it are
    /// closed (default 10 s); see [`with_resolve_interval`](Self::with_resolve_interval).
    pub fn with_drain_window(mut self, window: Duration) -> Self {
        self.watch = Watch::with(self.watch.interval, window);
        self
    }

    /// The re-resolution of the pool's manager, every
    /// [resolve interval](Self::with_resolve_interval), until the pool is dropped or
    /// closed; it holds the pool only during a pass. The `tcp(..)` builders spawn it when
    /// a resolve interval is set; spawn it yourself for a pool built from a manager:
    /// `tokio::spawn(TcpManager::resolve_loop(pool.downgrade()))`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it stops the re-resolution.
    pub fn resolve_loop(pool: WeakPool<Self>) -> impl Future<Output = ()> + Send {
        Watch::run(pool)
    }

    /// The address string (the one set last, see [`set_addr`](Self::set_addr)).
    pub fn addr(&self) -> String {
        self.target().addr
    }

    /// The address, checked: `None` when it is not `"host:port"`.
    pub fn address(&self) -> Option<Address> {
        self.target().parsed.ok()
    }

    /// How often the name is resolved again (see
    /// [`with_resolve_interval`](Self::with_resolve_interval)).
    pub fn resolve_interval(&self) -> Option<Duration> {
        self.watch.interval
    }

    /// The socket options.
    pub fn options(&self) -> &TcpOptions {
        &self.options
    }

    fn target(&self) -> Target {
        self.target
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Resolves a name with the resolver set, or the runtime's.
    async fn resolve(&self, address: &Address) -> io::Result<Vec<SocketAddr>> {
        match &self.resolver {
            Some(resolver) => resolver.resolve(address.host(), address.port()).await,
            None => R::resolve(address.to_string()).await,
        }
    }

    /// Whether `socket`'s peer address was retired by the re-resolution (one atomic load
    /// unless some address is).
    pub(crate) fn is_retired(&self, socket: SockRef<'_>) -> bool {
        self.watch.is_retired(|| peer_of(socket))
    }

    /// The check of `is_valid`, `is_valid_now` and `has_broken`: a retired address, else
    /// the non-blocking peek.
    fn check(&self, conn: &R::TcpStream) -> Result<(), NetError> {
        if self.is_retired(conn.sock_ref()) {
            Err(NetError::Retired)
        } else {
            peek::<R>(conn.sock_ref())
        }
    }

    /// Connects; the stream and the address it is connected to.
    pub(crate) async fn open(&self) -> Result<(R::TcpStream, SocketAddr), NetError> {
        let target = self.target();
        let address = target.parsed.map_err(|source| NetError::Address {
            addr: target.addr,
            source,
        })?;
        let resolved = match address.socket_addr() {
            Some(addr) => vec![addr],
            None => self
                .resolve(&address)
                .await
                .map_err(|source| NetError::Resolve {
                    host: address.host().to_owned(),
                    source,
                })?,
        };
        let mut last = None;
        for (i, &addr) in resolved.iter().enumerate() {
            match R::connect_tcp(addr, self.options.attempt_timeout()).await {
                Ok(stream) => {
                    self.options
                        .apply(stream.sock_ref())
                        .map_err(NetError::SocketOptions)?;
                    return Ok((stream, addr));
                }
                Err(source) => {
                    last = Some(NetError::Connect {
                        addr,
                        tried: i + 1,
                        source,
                    })
                }
            }
        }
        Err(last.unwrap_or_else(|| NetError::NoAddress {
            host: address.host().to_owned(),
        }))
    }
}

impl<R: Runtime> Manager for TcpManager<R> {
    type Connection = R::TcpStream;
    type Error = NetError;

    async fn connect(&self) -> Result<R::TcpStream, NetError> {
        self.open().await.map(|(stream, _)| stream)
    }

    /// The non-blocking peek; also fails a connection whose address the re-resolution
    /// retired ([`NetError::Retired`]).
    fn is_valid(
        &self,
        conn: &mut R::TcpStream,
    ) -> impl Future<Output = Result<(), NetError>> + Send {
        std::future::ready(self.check(conn))
    }

    /// `is_valid`'s peek, answered at once (the pool then needs no future for it).
    fn is_valid_now(&self, conn: &mut R::TcpStream) -> Option<Result<(), NetError>> {
        Some(self.check(conn))
    }

    /// The same non-blocking peek as `is_valid` (one `recv`, nothing consumed): a
    /// connection that died while it was checked out (the server closed or reset it, or
    /// its user left a reply unread) is closed when it comes back instead of going round
    /// to the next caller. So is one whose address the re-resolution retired.
    fn has_broken(&self, conn: &mut R::TcpStream) -> bool {
        self.check(conn).is_err()
    }
}

impl<R: Runtime> Clone for TcpManager<R> {
    fn clone(&self) -> Self {
        Self {
            target: RwLock::new(self.target()),
            options: self.options.clone(),
            resolver: self.resolver.clone(),
            watch: self.watch.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> fmt::Debug for TcpManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpManager")
            .field("addr", &self.target().addr)
            .field("options", &self.options)
            .field("resolver", &self.resolver)
            .field("resolve_interval", &self.watch.interval)
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
impl<R: Runtime> UnixManager<R> {
    /// A manager for the socket at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            connect_timeout: Some(Duration::from_secs(10)),
            runtime: PhantomData,
        }
    }

    /// Sets the connect timeout (default 10 s; `None`: no bound of its own).
    pub fn with_connect_timeout(mut self, limit: Option<Duration>) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn open(&self) -> Result<R::UnixStream, NetError> {
        R::connect_unix(self.path.clone(), self.connect_timeout)
            .await
            .map_err(|source| NetError::ConnectUnix {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(unix)]
impl<R: Runtime> Manager for UnixManager<R> {
    type Connection = R::UnixStream;
    type Error = NetError;

    fn connect(&self) -> impl Future<Output = Result<R::UnixStream, NetError>> + Send {
        self.open()
    }

    fn is_valid(
        &self,
        conn: &mut R::UnixStream,
    ) -> impl Future<Output = Result<(), NetError>> + Send {
        std::future::ready(peek::<R>(conn.sock_ref()))
    }

    /// `is_valid`'s peek, answered at once (the pool then needs no future for it).
    fn is_valid_now(&self, conn: &mut R::UnixStream) -> Option<Result<(), NetError>> {
        Some(peek::<R>(conn.sock_ref()))
    }

    /// The same non-blocking peek as `is_valid`, as for TCP.
    fn has_broken(&self, conn: &mut R::UnixStream) -> bool {
        peek::<R>(conn.sock_ref()).is_err()
    }
}

#[cfg(unix)]
impl<R> Clone for UnixManager<R> {
    fn clone(&self) -> Self {
        Self {
            path: self.path.clone(),
            connect_timeout: self.connect_timeout,
            runtime: PhantomData,
        }
    }
}

#[cfg(unix)]
impl<R> fmt::Debug for UnixManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixManager")
            .field("path", &self.path)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// The address a [`TcpManager`] connects to, swapped whole by `set_addr`.
#[derive(Clone)]
struct Target {
    addr: String,
    parsed: Result<Address, AddressError>,
}

impl<R: Runtime> Watched for TcpManager<R> {
    fn watch(&self) -> &Watch {
        &self.watch
    }

    fn address(&self) -> Option<Address> {
        Self::address(self)
    }

    fn resolve(
        &self,
        address: &Address,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        Self::resolve(self, address)
    }

    fn peer(conn: &R::TcpStream) -> Option<SocketAddr> {
        peer_of(conn.sock_ref())
    }
}

/// The IP address a socket is connected to.
pub(crate) fn peer_of(socket: SockRef<'_>) -> Option<SocketAddr> {
    socket.peer_addr().ok()?.as_socket()
}

/// [`check_alive`], switching a blocking socket to non-blocking for the one peek.
fn peek<R: Runtime>(socket: SockRef<'_>) -> Result<(), NetError> {
    if !R::BLOCKING || cfg!(unix) {
        // On unix, `check_alive` passes MSG_DONTWAIT: no mode switch needed.
        return check_alive(socket);
    }
    socket.set_nonblocking(true).map_err(NetError::Io)?;
    let alive = check_alive(SockRef::from(&*socket));
    socket.set_nonblocking(false).map_err(NetError::Io)?;
    alive
}
