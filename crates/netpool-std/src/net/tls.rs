//! TLS over the TCP managers (feature `tls`): [`TlsManager`], [`TlsBuilder`], [`TlsError`]
//! and the [`TlsRuntime`] each adapter implements, with rustls.
//!
//! # Implementation details
//!
//! * `connect` is the TCP manager's connect followed by the client handshake; the
//!   handshake gets what is left of the per-attempt budget
//!   ([`TcpOptions::connect_timeout`](crate::net::TcpOptions::connect_timeout)), and the
//!   pool's `connect_timeout` and the caller's deadline bound the whole of it (the
//!   blocking runtime cannot be interrupted, so it relies on the budget alone: socket
//!   timeouts during the handshake).
//! * `has_broken` looks only at the rustls state in memory (no syscall): a TLS error
//!   seen, a `close_notify` or an unclean end of stream received, plaintext nobody read,
//!   or a handshake that never finished.
//! * `is_valid` reads, without blocking, whatever the socket holds into rustls (one
//!   `recv` when nothing is pending, as the TCP peek), processes it, and then makes the
//!   same checks: TLS 1.3 session tickets that arrived after the handshake are consumed
//!   and kept, while application data, a `close_notify`, an end of stream or a reset
//!   fail the check. Reading from the socket directly is safe under every runtime: the
//!   async runtimes' readiness may only turn out spurious, which they handle.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpool_core::{Builder, Manager, Pool, QueueStrategy};
use rustls::pki_types::{InvalidDnsNameError, ServerName};
use rustls::{ClientConfig, ClientConnection};

use crate::net::{
    Address, AsSockRef, BuildError, IntoAddress, NetError, Runtime, TcpBuilder, TcpManager,
};

/// What an adapter adds to its [`Runtime`] for TLS: its TLS client stream over its TCP
/// stream, and the handshake that makes one.
///
/// Implemented by `netpool_std::Threads` (rustls's blocking `StreamOwned`),
/// `netpool_tokio::Tokio` (tokio-rustls) and `netpool_smol::Smol` (futures-rustls).
pub trait TlsRuntime: Runtime {
    /// The runtime's TLS client stream over [`Runtime::TcpStream`]: the pool's connection
    /// type.
    type TlsStream: Send + 'static;

    /// Runs the client handshake over `tcp`, giving up after `limit` with an
    /// `io::ErrorKind::TimedOut` error.
    ///
    /// A rustls error (a certificate rejected, say) comes back as an `io::Error` whose
    /// inner error is the [`rustls::Error`], as tokio-rustls and rustls's own streams
    /// return it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the TCP stream: the connection is closed.
    fn handshake(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        tcp: Self::TcpStream,
        limit: Option<Duration>,
    ) -> impl Future<Output = io::Result<Self::TlsStream>> + Send;

    /// The TCP stream under a TLS stream, and its rustls state.
    fn parts_mut(stream: &mut Self::TlsStream) -> (&Self::TcpStream, &mut ClientConnection);
}

/// A [`Manager`] of TLS streams over the TCP streams of runtime `R`; each adapter names
/// it `TlsManager`.
///
/// Connects as [`TcpManager`] does (it wraps one), then runs the rustls client handshake
/// with the [`ClientConfig`] given, for the server name given or, by default, the host
/// part of the address (a DNS name or an IP address). The roots the certificate is
/// checked against, ALPN and client certificates are the `ClientConfig`'s.
///
/// `is_valid` makes no round trip: it reads what the socket holds without blocking and
/// fails on a `close_notify`, an end of stream, a reset or unread application data.
/// `has_broken` checks the rustls state only (no syscall), so a connection whose stream
/// hit an error or an end of stream (one cut in the middle of a record, say) is closed
/// when it comes back, even if the caller did not discard it.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::TlsEchoServer::start()?;
/// # let (addr, config) = (server.addr().to_string(), server.client_config());
/// use std::io::{Read, Write};
/// use netpool_std::TlsManager;
///
/// // config: an Arc<rustls::ClientConfig> that trusts the server's certificate
/// let manager = TlsManager::new(addr, config).with_server_name("localhost");
/// let pool = netpool_core::Pool::builder().max_size(4).build(manager)?;
/// let mut conn = pool.get_blocking()?; // a rustls::StreamOwned over a TcpStream
/// conn.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// conn.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TlsManager<R: Runtime> {
    tcp: TcpManager<R>,
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

/// Builds a TLS pool on runtime `R`: [`TcpBuilder`]'s knobs, the TLS server name, and a
/// [`build`](Self::build) that also starts maintenance.
///
/// Made by each adapter's `tls(addr, config)` or by [`TcpBuilder::tls`].
#[must_use = "a builder does nothing until build() is called"]
pub struct TlsBuilder<R: TlsRuntime> {
    tcp: TcpBuilder<R>,
    config: Arc<ClientConfig>,
    server_name: Option<String>,
    hooks: netpool_core::FnHooks<TlsManager<R>>,
}

/// The error of the TLS managers of every adapter crate: their
/// [`Manager::Error`](netpool_core::Manager::Error).
///
/// A pool hands it out inside [`netpool_core::Error::Connect`]; a certificate that is
/// not trusted, has expired or is not valid for the server name is a
/// [`Handshake`](Self::Handshake) error whose source is rustls's reason.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The TCP connect failed.
    #[error(transparent)]
    Tcp(NetError),
    /// The server name is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {name:?}")]
    ServerName {
        /// The name given.
        name: String,
        /// Why rustls rejected it.
        #[source]
        source: InvalidDnsNameError,
    },
    /// The handshake failed: the server's certificate was rejected, or the server sent
    /// an alert or something that is not TLS.
    #[error("the TLS handshake with {server_name} failed")]
    Handshake {
        /// The server name the certificate was checked for.
        server_name: String,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// Reading or writing failed during the handshake, or the handshake timed out
    /// (`io::ErrorKind::TimedOut`).
    #[error("the TLS handshake with {server_name} was cut short")]
    HandshakeIo {
        /// The server name.
        server_name: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A liveness check found that the peer closed the connection (a `close_notify` or
    /// an end of stream).
    #[error("the peer closed the TLS connection")]
    Closed,
    /// A liveness check found application data nobody asked for: the stream is out of
    /// sync.
    #[error("unread data is pending on an idle TLS connection")]
    UnexpectedData,
    /// A liveness check found the TLS session failed (a bad record, an alert).
    #[error("the TLS session failed")]
    Protocol(#[source] rustls::Error),
    /// A liveness check failed (a reset, say).
    #[error("the connection failed")]
    Io(#[source] io::Error),
}

impl<R: TlsRuntime> TlsManager<R> {
    /// A manager for `addr` (`"host:port"`) with the default
    /// [`TcpOptions`](crate::net::TcpOptions), that checks the server's certificate with
    /// `config` for the host part of `addr`.
    pub fn new(addr: impl IntoAddress, config: Arc<ClientConfig>) -> Self {
        Self::from_tcp(TcpManager::new(addr), config)
    }

    /// A TLS manager over the connections of `tcp` (its address and socket options).
    pub fn from_tcp(tcp: TcpManager<R>, config: Arc<ClientConfig>) -> Self {
        Self {
            tcp,
            config,
            server_name: None,
        }
    }

    /// Checks the certificate for `name` (a DNS name or an IP address) instead of the
    /// address's host. An invalid name fails every connect with
    /// [`TlsError::ServerName`].
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The TCP manager underneath.
    pub fn tcp(&self) -> &TcpManager<R> {
        &self.tcp
    }

    /// The rustls client configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The name the certificate is checked for: the one set, or the address's host
    /// (`None` for an address that is not `"host:port"`).
    pub fn server_name(&self) -> Option<String> {
        match &self.server_name {
            Some(name) => Some(name.clone()),
            None => Address::parse(self.tcp.addr())
                .ok()
                .map(|a| a.host().to_owned()),
        }
    }

    async fn open(&self) -> Result<R::TlsStream, TlsError> {
        let start = Instant::now();
        let tcp = self.tcp.connect().await.map_err(TlsError::Tcp)?;
        // The address parsed (the connect succeeded), so there is a name.
        let name = self.server_name().unwrap_or_default();
        let server_name =
            ServerName::try_from(name.clone()).map_err(|source| TlsError::ServerName {
                name: name.clone(),
                source,
            })?;
        // The handshake gets what is left of one attempt's budget.
        let limit = self.tcp.options().attempt_timeout().map(|t| {
            t.saturating_sub(start.elapsed())
                .max(Duration::from_millis(1))
        });
        R::handshake(self.config.clone(), server_name, tcp, limit)
            .await
            .map_err(|e| handshake_error(name, e))
    }
}

impl<R: TlsRuntime> Manager for TlsManager<R> {
    type Connection = R::TlsStream;
    type Error = TlsError;

    fn connect(&self) -> impl Future<Output = Result<R::TlsStream, TlsError>> + Send {
        self.open()
    }

    fn is_valid(
        &self,
        conn: &mut R::TlsStream,
    ) -> impl Future<Output = Result<(), TlsError>> + Send {
        std::future::ready(check_alive::<R>(conn))
    }

    fn has_broken(&self, conn: &mut R::TlsStream) -> bool {
        check_state(R::parts_mut(conn).1).is_err()
    }
}

impl<R: Runtime> Clone for TlsManager<R> {
    fn clone(&self) -> Self {
        Self {
            tcp: self.tcp.clone(),
            config: self.config.clone(),
            server_name: self.server_name.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for TlsManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsManager")
            .field("tcp", &self.tcp)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl<R: TlsRuntime> TlsBuilder<R> {
    /// A builder for a pool of TLS connections to `addr` (`"host:port"`), checking the
    /// server's certificate with `config` for the host part of `addr`.
    pub fn new(addr: impl IntoAddress, config: Arc<ClientConfig>) -> Self {
        TcpBuilder::new(addr).tls(config)
    }

    /// Checks the certificate for `name` (a DNS name or an IP address) instead of the
    /// address's host. It is checked at connect: an invalid name fails every `get` with
    /// [`TlsError::ServerName`] inside [`netpool_core::Error::Connect`].
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Replaces the pool settings with those of a core [`Builder`].
    pub fn pool_builder(self, core: Builder) -> Self {
        self.map(|b| b.pool_builder(core))
    }

    /// Replaces the socket options; see [`TcpBuilder::tcp_options`].
    pub fn tcp_options(self, options: crate::net::TcpOptions) -> Self {
        self.map(|b| b.tcp_options(options))
    }

    /// Bound on one connect, TCP connect and TLS handshake together (default 10 s).
    pub fn connect_timeout(self, timeout: Option<Duration>) -> Self {
        self.map(|b| b.connect_timeout(timeout))
    }

    crate::net::builder::pool_knobs!();

    /// Runs `f` on every new connection, after the handshake and before its first use
    /// (see [`netpool_core::Hooks::on_connect`]): `|stream| Box::pin(async move { ... })`.
    pub fn on_connect<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(&'a mut R::TlsStream) -> netpool_core::BoxHookFuture<'a, TlsError>
            + Send
            + Sync
            + 'static,
    {
        self.hooks = self.hooks.on_connect(f);
        self
    }

    /// Runs `f` on every checkout of an idle connection (see
    /// [`netpool_core::Hooks::on_checkout`]): `|stream, meta| Box::pin(async move { ... })`.
    pub fn on_checkout<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(
                &'a mut R::TlsStream,
                netpool_core::Meta,
            ) -> netpool_core::BoxHookFuture<'a, TlsError>
            + Send
            + Sync
            + 'static,
    {
        self.hooks = self.hooks.on_checkout(f);
        self
    }

    /// Checks the settings and the address's form, creates the pool and starts its
    /// maintenance. Opens no connection: a closed port or a rejected certificate is an
    /// error at `get`, not here.
    ///
    /// # Errors
    ///
    /// As [`TcpBuilder::build`].
    pub fn build(self) -> Result<Pool<TlsManager<R>>, BuildError> {
        let (tcp, core) = self.tcp.into_manager()?;
        let mut manager = TlsManager::from_tcp(tcp, self.config);
        manager.server_name = self.server_name;
        let pool = crate::net::builder::build_with(core, self.hooks, manager)?;
        R::start_maintenance(&pool)?;
        Ok(pool)
    }

    fn map(mut self, f: impl FnOnce(TcpBuilder<R>) -> TcpBuilder<R>) -> Self {
        self.tcp = f(self.tcp);
        self
    }
}

impl<R: TlsRuntime> fmt::Debug for TlsBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsBuilder")
            .field("tcp", &self.tcp)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl<R: TlsRuntime> TcpBuilder<R> {
    /// Turns this into a builder of TLS connections, whose certificates are checked with
    /// `config` for the host part of the address (feature `tls`); the settings made so far
    /// are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = netpool_testkit::TlsEchoServer::start()?;
    /// # let (addr, config) = (server.addr().to_string(), server.client_config());
    /// use std::io::{Read, Write};
    ///
    /// let pool = netpool_std::tcp(addr).max_size(4).tls(config).build()?;
    /// let mut conn = pool.get_blocking()?;
    /// conn.write_all(b"ping")?;
    /// conn.read_exact(&mut [0; 4])?;
    /// assert_eq!(pool.stats().max_size, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls(self, config: Arc<ClientConfig>) -> TlsBuilder<R> {
        TlsBuilder {
            tcp: self,
            config,
            server_name: None,
            hooks: netpool_core::FnHooks::new(),
        }
    }
}

impl TlsError {
    /// Whether this is a connect or a handshake that timed out.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Tcp(e) => e.is_timeout(),
            Self::HandshakeIo { source, .. } => source.kind() == io::ErrorKind::TimedOut,
            _ => false,
        }
    }

    /// The rustls error behind a failed handshake or a failed check, if any.
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        match self {
            Self::Handshake { source, .. } | Self::Protocol(source) => Some(source),
            _ => None,
        }
    }
}

/// A rustls error inside the handshake's `io::Error` becomes [`TlsError::Handshake`], so
/// that the error's source chain names rustls's reason.
fn handshake_error(server_name: String, e: io::Error) -> TlsError {
    if !e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return TlsError::HandshakeIo {
            server_name,
            source: e,
        };
    }
    let kind = e.kind();
    match e
        .into_inner()
        .map(|inner| inner.downcast::<rustls::Error>())
    {
        Some(Ok(source)) => TlsError::Handshake {
            server_name,
            source: *source,
        },
        // Not reached (checked above); kept as an I/O error rather than unwrapped.
        Some(Err(inner)) => TlsError::HandshakeIo {
            server_name,
            source: io::Error::new(kind, inner),
        },
        None => TlsError::HandshakeIo {
            server_name,
            source: kind.into(),
        },
    }
}

/// `is_valid`: reads what the socket holds into rustls without blocking, then checks the
/// state.
fn check_alive<R: TlsRuntime>(stream: &mut R::TlsStream) -> Result<(), TlsError> {
    let (tcp, conn) = R::parts_mut(stream);
    check_state(conn)?;
    let socket = tcp.sock_ref();
    if R::BLOCKING {
        socket.set_nonblocking(true).map_err(TlsError::Io)?;
    }
    let drained = drain(&socket, conn);
    if R::BLOCKING {
        socket.set_nonblocking(false).map_err(TlsError::Io)?;
    }
    drained?;
    check_state(conn)
}

/// Feeds rustls what the (non-blocking) socket holds: at most 16 reads.
fn drain(socket: &socket2::Socket, conn: &mut ClientConnection) -> Result<(), TlsError> {
    for _ in 0..16 {
        match conn.read_tls(&mut &*socket) {
            // An end of stream, or a close_notify already received.
            Ok(0) => return Err(TlsError::Closed),
            Ok(_) => {
                conn.process_new_packets().map_err(TlsError::Protocol)?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // "received plaintext buffer full" among others: out of sync either way.
            Err(e) => return Err(TlsError::Io(e)),
        }
    }
    Ok(())
}

/// The in-memory checks behind `has_broken` and `is_valid`.
fn check_state(conn: &mut ClientConnection) -> Result<(), TlsError> {
    let state = conn.process_new_packets().map_err(TlsError::Protocol)?;
    if state.peer_has_closed() {
        return Err(TlsError::Closed);
    }
    if state.plaintext_bytes_to_read() > 0 {
        return Err(TlsError::UnexpectedData);
    }
    if conn.is_handshaking() {
        return Err(TlsError::Io(io::Error::new(
            io::ErrorKind::NotConnected,
            "the TLS handshake did not finish",
        )));
    }
    // No plaintext buffered: an error here is an end of stream without close_notify.
    match conn.reader().into_first_chunk() {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(TlsError::Closed),
        _ => Ok(()),
    }
}
