//! [`TcpManager`] and [`UnixManager`]: the managers of every adapter, written once and
//! generic over its [`Runtime`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};
#[cfg(unix)]
use std::time::Duration;

use netpool_core::Manager;
use socket2::SockRef;

use crate::{
    Address, AddressError, AsSockRef, IntoAddress, NetError, Runtime, TcpOptions, check_alive,
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
/// they are closed (see there for retiring them).
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
            runtime: PhantomData,
        }
    }

    /// Points the manager at another address while the pool runs: every connect from now
    /// on goes there (a failover, a moved service). Connections already open are not
    /// touched; to retire the idle ones, keep those connected to the new address:
    /// `pool.retain(|conn, _| conn.peer_addr().is_ok_and(|a| a == new))` (call it again
    /// for those that were checked out, or let `max_lifetime` take them). Comparing
    /// `meta.created_at` with the time of the change is not reliable: the pool stamps
    /// connections with a coarse clock.
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
    /// drop((first, second));
    /// pool.retain(|conn, _| conn.peer_addr().is_ok_and(|a| a == new)); // retire the old
    /// assert_eq!(pool.stats().connections, 1);
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

    /// The address string (the one set last, see [`set_addr`](Self::set_addr)).
    pub fn addr(&self) -> String {
        self.target().addr
    }

    /// The address, checked: `None` when it is not `"host:port"`.
    pub fn address(&self) -> Option<Address> {
        self.target().parsed.ok()
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

    /// Connects; the stream and the address it is connected to.
    pub(crate) async fn open(&self) -> Result<(R::TcpStream, SocketAddr), NetError> {
        let target = self.target();
        let address = target.parsed.map_err(|source| NetError::Address {
            addr: target.addr,
            source,
        })?;
        let resolved = match address.socket_addr() {
            Some(addr) => vec![addr],
            None => R::resolve(address.to_string())
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

    fn is_valid(
        &self,
        conn: &mut R::TcpStream,
    ) -> impl Future<Output = Result<(), NetError>> + Send {
        std::future::ready(peek::<R>(conn.sock_ref()))
    }

    /// The same non-blocking peek as `is_valid` (one `recv`, nothing consumed): a
    /// connection that died while it was checked out (the server closed or reset it, or
    /// its user left a reply unread) is closed when it comes back instead of going round
    /// to the next caller.
    fn has_broken(&self, conn: &mut R::TcpStream) -> bool {
        peek::<R>(conn.sock_ref()).is_err()
    }
}

impl<R: Runtime> Clone for TcpManager<R> {
    fn clone(&self) -> Self {
        Self {
            target: RwLock::new(self.target()),
            options: self.options.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> fmt::Debug for TcpManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpManager")
            .field("addr", &self.target().addr)
            .field("options", &self.options)
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
