//! [`TcpTarget`] and [`UnixTarget`]: what a manager connects to, and the connect and
//! liveness logic every runtime shares.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use socket2::SockRef;

use crate::net::{Address, AddressError, NetError, TcpOptions};

/// A TCP manager's destination: the address string (its form checked once) and the
/// [`TcpOptions`]. The runtime supplies only how to resolve and how to connect.
///
/// # Examples
///
/// A blocking connect, as netpool-std does it:
///
/// ```
/// use netpool_std::net::TcpTarget;
///
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let addr = listener.local_addr()?.to_string();
/// let target = TcpTarget::new(addr);
/// let connect = target.connect(
///     |name| std::future::ready(std::net::ToSocketAddrs::to_socket_addrs(&name)),
///     |addr, timeout| {
///         let result = match timeout {
///             Some(t) => std::net::TcpStream::connect_timeout(&addr, t),
///             None => std::net::TcpStream::connect(addr),
///         };
///         std::future::ready(result)
///     },
/// );
/// let stream = futures_lite::future::block_on(connect)?;
/// assert!(stream.nodelay()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TcpTarget {
    addr: String,
    parsed: Result<Address, AddressError>,
    options: TcpOptions,
}

/// A Unix-socket manager's destination: the path and the connect timeout.
#[derive(Debug, Clone)]
pub struct UnixTarget {
    path: PathBuf,
    connect_timeout: Option<Duration>,
}

impl TcpTarget {
    /// A target for `"host:port"`, with the default options. A malformed string is
    /// reported by every [`connect`](Self::connect).
    pub fn new(addr: impl Into<String>) -> Self {
        let addr = addr.into();
        let parsed = Address::parse(&addr);
        Self {
            addr,
            parsed,
            options: TcpOptions::default(),
        }
    }

    /// A target for an address already checked.
    pub fn from_address(address: Address) -> Self {
        Self {
            addr: address.to_string(),
            parsed: Ok(address),
            options: TcpOptions::default(),
        }
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: TcpOptions) -> Self {
        self.options = options;
        self
    }

    /// The address string.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The options.
    pub fn options(&self) -> &TcpOptions {
        &self.options
    }

    /// Resolves the address (unless it is an IP literal) with `resolve`, then tries each
    /// resolved address in turn with `connect`, which gets the per-attempt timeout; sets
    /// the options on the first stream that connects.
    ///
    /// `resolve` gets `"host:port"` with a host name; `connect` must honour the timeout
    /// it is given (see [`timeout`]).
    ///
    /// # Errors
    ///
    /// [`NetError::Address`] for a malformed address string, [`NetError::Resolve`] or
    /// [`NetError::NoAddress`] when resolution fails, [`NetError::Connect`] with the last
    /// attempt's error when no address connects, [`NetError::SocketOptions`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future leaves nothing behind.
    pub async fn connect<S, R, RF, A, C, CF>(
        &self,
        resolve: R,
        mut connect: C,
    ) -> Result<S, NetError>
    where
        R: FnOnce(String) -> RF,
        RF: Future<Output = io::Result<A>>,
        A: IntoIterator<Item = SocketAddr>,
        C: FnMut(SocketAddr, Option<Duration>) -> CF,
        CF: Future<Output = io::Result<S>>,
        for<'s> SockRef<'s>: From<&'s S>,
    {
        let address = self.parsed.as_ref().map_err(|e| NetError::Address {
            addr: self.addr.clone(),
            source: e.clone(),
        })?;
        let resolved: Vec<SocketAddr> = match address.socket_addr() {
            Some(addr) => vec![addr],
            None => resolve(address.to_string())
                .await
                .map_err(|source| NetError::Resolve {
                    host: address.host().to_owned(),
                    source,
                })?
                .into_iter()
                .collect(),
        };
        let mut last = None;
        for (i, &addr) in resolved.iter().enumerate() {
            match connect(addr, self.options.attempt_timeout()).await {
                Ok(stream) => {
                    self.options
                        .apply(SockRef::from(&stream))
                        .map_err(NetError::SocketOptions)?;
                    return Ok(stream);
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

impl UnixTarget {
    /// A target for the socket at `path`, with a 10 s connect timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            connect_timeout: Some(Duration::from_secs(10)),
        }
    }

    /// Sets the connect timeout (`None`: no bound of its own).
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Connects with `connect`, which gets the path and the timeout.
    ///
    /// # Errors
    ///
    /// [`NetError::ConnectUnix`] with `connect`'s error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn connect<S, C, CF>(&self, connect: C) -> Result<S, NetError>
    where
        C: FnOnce(PathBuf, Option<Duration>) -> CF,
        CF: Future<Output = io::Result<S>>,
    {
        connect(self.path.clone(), self.connect_timeout)
            .await
            .map_err(|source| NetError::ConnectUnix {
                path: self.path.clone(),
                source,
            })
    }
}

/// Bounds an I/O future by `limit` with an `async-io` timer, which works under any
/// runtime (a tokio runtime needs no time driver for it).
///
/// # Errors
///
/// The future's error, or `io::ErrorKind::TimedOut` once `limit` passes.
///
/// # Cancel safety
///
/// As cancel safe as `fut`.
pub async fn timeout<T>(
    limit: Option<Duration>,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let Some(limit) = limit else {
        return fut.await;
    };
    let expire = async move {
        async_io::Timer::after(limit).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect timed out after {limit:?}"),
        ))
    };
    futures_lite::future::or(fut, expire).await
}

/// The non-blocking peek behind every `is_valid`: `Ok` when nothing is pending (the peer
/// is there and quiet).
///
/// The socket must be in non-blocking mode (async runtimes' sockets are); one `recv`
/// with `MSG_PEEK`, nothing consumed.
///
/// # Errors
///
/// [`NetError::Closed`] at end of stream, [`NetError::UnexpectedData`] when bytes are
/// pending, [`NetError::Io`] for a reset or any other error.
pub fn check_alive(socket: SockRef<'_>) -> Result<(), NetError> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 1];
    match socket.peek(&mut buf) {
        Ok(0) => Err(NetError::Closed),
        Ok(_) => Err(NetError::UnexpectedData),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(NetError::Io(e)),
    }
}
