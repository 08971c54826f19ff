//! TLS over the TCP managers (feature `tls`): [`TlsManager`], [`TlsBuilder`], [`TlsError`]
//! and the [`TlsRuntime`] each adapter implements, with rustls; the crypto provider and
//! trust roots chosen by cargo features ([`tls_provider`], [`tls_config`]).
//!
//! # Implementation details
//!
//! * `connect` is the TCP manager's connect followed by the client handshake; the
//!   handshake gets what is left of the per-attempt budget
//!   ([`TcpOptions::connect_timeout`](crate::TcpOptions::connect_timeout)), so the
//!   manager itself times out first and names the address and the phase (`TCP connect`,
//!   `TLS handshake`); the `tls(..)` builders give the pool's `connect_timeout` a small
//!   margin on top, as a backstop (the blocking runtime cannot be interrupted, so it
//!   relies on the budget alone: socket timeouts during the handshake).
//! * The TCP stream under the TLS stream is a [`Tracked`] stream: the first I/O error or
//!   end of stream that a read or a write of the caller met is recorded there.
//! * `has_broken` and `is_valid` make the same check: a recorded failure, then the
//!   rustls state in memory (a TLS error seen, a `close_notify` or an unclean end of
//!   stream received, plaintext nobody read, a handshake that never finished), then one
//!   non-blocking peek at the socket as the TCP managers do. Only when bytes are pending
//!   are they read into rustls and processed: TLS 1.3 session tickets that arrived after
//!   the handshake are consumed and kept, while application data, a `close_notify`, an
//!   end of stream or a reset fail the check. Reading from the socket directly is safe
//!   under every runtime: the async runtimes' readiness may only turn out spurious,
//!   which they handle.
//! * With a client certificate configured and TLS 1.3 negotiated, the server's verdict
//!   on the certificate arrives after the handshake: `connect` waits for the server's
//!   first records (session tickets: accepted; an alert or an end of stream: refused) up
//!   to [`TlsManager::with_client_auth_wait`], so that a refusal is a failed connect
//!   (backoff, `Unavailable`) and not a dead connection handed out.
//! * The `ClientConfig`, the server name and the address can be swapped while the pool
//!   runs: each connect reads the current ones under a read lock.

mod check;
mod config;
mod error;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use netpool_core::{Builder, Manager, Pool, QueueStrategy, WeakPool};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ProtocolVersion};

use self::check::{Refusal, await_verdict, check_alive};
#[cfg(feature = "tls-native-roots")]
pub use self::config::native_roots;
#[cfg(feature = "tls-webpki-roots")]
pub use self::config::webpki_roots;
#[cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]
pub use self::config::{tls_config, tls_provider};
pub use self::error::TlsError;
use self::error::handshake_error;
use crate::dns::{Watch, Watched};
use crate::{
    Address, AsSockRef, BuildError, IntoAddress, NetError, Runtime, TcpBuilder, TcpManager, Tracked,
};

/// How long `connect` waits, after a TLS 1.3 handshake with a client certificate, for
/// the server's verdict on it (default of [`TlsManager::with_client_auth_wait`]).
pub const CLIENT_AUTH_WAIT: Duration = Duration::from_millis(250);

/// What an adapter adds to its [`Runtime`] for TLS: its TLS client stream over its
/// (tracked) TCP stream, and the handshake that makes one.
///
/// Implemented by `netpool_std::Threads` (rustls's blocking `StreamOwned`),
/// `netpool_tokio::Tokio` (tokio-rustls) and `netpool_smol::Smol` (futures-rustls).
pub trait TlsRuntime: Runtime {
    /// The runtime's TLS client stream over [`Tracked`]`<`[`Runtime::TcpStream`]`>`:
    /// the pool's connection type.
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
        tcp: Tracked<Self::TcpStream>,
        limit: Option<Duration>,
    ) -> impl Future<Output = io::Result<Self::TlsStream>> + Send;

    /// The TCP stream under a TLS stream, and its rustls state.
    fn parts(stream: &Self::TlsStream) -> (&Tracked<Self::TcpStream>, &ClientConnection);

    /// The TCP stream under a TLS stream, and its rustls state, to drive.
    fn parts_mut(
        stream: &mut Self::TlsStream,
    ) -> (&Tracked<Self::TcpStream>, &mut ClientConnection);

    /// Waits until `tcp` has bytes to read (or an end of stream, or an error): `true`,
    /// or `false` once `limit` passed first. Consumes nothing.
    fn readable(
        tcp: &Self::TcpStream,
        limit: Duration,
    ) -> impl Future<Output = io::Result<bool>> + Send;
}

/// A [`Manager`] of TLS streams over the TCP streams of runtime `R`; each adapter names
/// it `TlsManager`.
///
/// Connects as [`TcpManager`] does (it wraps one), then runs the rustls client handshake
/// with the [`ClientConfig`] given, for the server name given or, by default, the host
/// part of the address (a DNS name or an IP address). The roots the certificate is
/// checked against, ALPN and client certificates are the `ClientConfig`'s.
///
/// `has_broken` and `is_valid` see the socket beneath TLS as the TCP managers do: a
/// connection whose stream hit an error or an end of stream while it was checked out
/// (recorded by the [`Tracked`] stream under TLS), whose peer sent a `close_notify`, reset
/// or closed it, or that holds unread application data is closed when it comes back or
/// when it is checked, never handed out again. Session tickets are consumed, not taken
/// for unread data.
///
/// A client certificate that the server refuses (under TLS 1.3 the refusal arrives after
/// the handshake) fails the connect: see [`with_client_auth_wait`](Self::with_client_auth_wait).
///
/// The `ClientConfig` can be replaced while the pool runs
/// ([`set_config`](Self::set_config)), and the address too
/// ([`TcpManager::set_addr`] through [`tcp`](Self::tcp)).
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
/// let mut conn = pool.get_blocking()?; // a rustls::StreamOwned over a Tracked<TcpStream>
/// conn.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// conn.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TlsManager<R: Runtime> {
    tcp: TcpManager<R>,
    current: RwLock<Current>,
    client_auth_wait: Option<Duration>,
}

/// What a [`TlsManager`] connects with, swapped by `set_config` and `set_server_name`.
#[derive(Clone)]
struct Current {
    config: Arc<ClientConfig>,
    /// Bumped by every swap; stamped on each connection (its [`Tracked`] tag).
    generation: u64,
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
    client_auth_wait: Option<Duration>,
    hooks: netpool_core::FnHooks<TlsManager<R>>,
}

impl<R: TlsRuntime> TlsManager<R> {
    /// A manager for `addr` (`"host:port"`) with the default
    /// [`TcpOptions`](crate::TcpOptions), that checks the server's certificate with
    /// `config` for the host part of `addr`.
    pub fn new(addr: impl IntoAddress, config: Arc<ClientConfig>) -> Self {
        Self::from_tcp(TcpManager::new(addr), config)
    }

    /// A TLS manager over the connections of `tcp` (its address and socket options).
    pub fn from_tcp(tcp: TcpManager<R>, config: Arc<ClientConfig>) -> Self {
        Self {
            tcp,
            current: RwLock::new(Current {
                config,
                generation: 0,
                server_name: None,
            }),
            client_auth_wait: Some(CLIENT_AUTH_WAIT),
        }
    }

    /// Checks the certificate for `name` (a DNS name or an IP address) instead of the
    /// address's host. An invalid name fails every connect with
    /// [`TlsError::ServerName`].
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.current_mut().server_name = Some(name.into());
        self
    }

    /// How long `connect` waits, after a TLS 1.3 handshake in which the client offered
    /// a certificate, for the server's verdict on it (default 250 ms, at most what is
    /// left of the connect attempt's budget; `None`: not at all).
    ///
    /// Under TLS 1.3 the server checks the client certificate after the client
    /// considers the handshake done, and its refusal (an alert such as
    /// `CertificateRequired` or `BadCertificate`) arrives with the first read. The wait
    /// turns that refusal into a failed connect ([`TlsError::Handshake`] with the alert
    /// as its reason), which the pool counts for its backoff and reports as
    /// `Error::Unavailable` while it lasts, instead of a connection that fails at its
    /// first request. It ends as soon as the server sends anything: servers that issue
    /// session tickets (OpenSSL's and rustls's defaults, so Redis) answer within a round
    /// trip. A server that sends nothing after the handshake (PostgreSQL disables
    /// session tickets, and speaks only when spoken to) makes every such connect wait
    /// the whole time: shorten it or turn it off there. Without a client certificate,
    /// or under TLS 1.2 (where the refusal is part of the handshake), there is no wait.
    pub fn with_client_auth_wait(mut self, wait: Option<Duration>) -> Self {
        self.client_auth_wait = wait;
        self
    }

    /// The TCP manager underneath (its address can be changed with
    /// [`TcpManager::set_addr`]).
    pub fn tcp(&self) -> &TcpManager<R> {
        &self.tcp
    }

    /// The rustls client configuration that new connections use.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.current().config
    }

    /// Replaces the rustls client configuration while the pool runs (new roots after a
    /// CA rotation, a renewed client certificate): the connections opened from now on
    /// use it. Connections already open keep the session they have; retire them with
    /// [`is_current`](Self::is_current): `pool.retain(|conn, _|
    /// pool.manager().is_current(conn))` closes the idle ones made with an older
    /// configuration (call it again later for those that were checked out, or let
    /// `max_lifetime` take them).
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = netpool_testkit::TlsEchoServer::start()?;
    /// # let (addr, old, new) = (server.addr().to_string(), server.client_config(), server.client_config());
    /// let pool = netpool_std::tls(addr, old).build()?;
    /// let first = pool.get_blocking()?;
    /// pool.manager().set_config(new);
    /// let second = pool.get_blocking()?; // handshaken with `new`
    /// drop((first, second));
    /// pool.retain(|conn, _| pool.manager().is_current(conn)); // the old one goes
    /// assert_eq!(pool.stats().connections, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_config(&self, config: Arc<ClientConfig>) {
        self.swap(|current| current.config = config);
    }

    /// Checks the certificates of the connections opened from now on for `name` (`None`:
    /// the address's host), while the pool runs: with
    /// [`TcpManager::set_addr`] through [`tcp`](Self::tcp), for a move to a server with
    /// another certificate. Like [`set_config`](Self::set_config), it leaves open
    /// connections alone and makes them no longer [current](Self::is_current);
    /// [`Pool::refresh`] replaces them without failing a caller.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = netpool_testkit::TlsEchoServer::start()?;
    /// # let (addr, config) = (server.addr().to_string(), server.client_config());
    /// let pool = netpool_std::tls(addr, config).server_name("localhost").build()?;
    /// let conn = pool.get_blocking()?;
    /// pool.manager().set_server_name(Some("db.internal".into())); // not on this certificate
    /// drop(conn);
    /// pool.refresh();
    /// assert!(pool.get_blocking().is_err()); // the new name is checked
    /// assert_eq!(pool.manager().server_name().as_deref(), Some("db.internal"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_server_name(&self, name: Option<String>) {
        self.swap(|current| current.server_name = name);
    }

    /// Whether `conn` was opened with the configuration and server name in use now (not
    /// ones replaced since by [`set_config`](Self::set_config) or
    /// [`set_server_name`](Self::set_server_name)).
    pub fn is_current(&self, conn: &mut R::TlsStream) -> bool {
        R::parts_mut(conn).0.tag() == self.current().generation
    }

    /// Changes what new connections use, under a new generation.
    fn swap(&self, change: impl FnOnce(&mut Current)) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        change(&mut current);
        current.generation = current.generation.wrapping_add(1);
    }

    fn current(&self) -> Current {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn current_mut(&mut self) -> &mut Current {
        self.current
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The name the certificate is checked for: the one set, or the address's host
    /// (`None` for an address that is not `"host:port"`).
    pub fn server_name(&self) -> Option<String> {
        Self::name_in(&self.current(), &self.tcp)
    }

    fn name_in(current: &Current, tcp: &TcpManager<R>) -> Option<String> {
        match &current.server_name {
            Some(name) => Some(name.clone()),
            None => tcp.address().map(|a| a.host().to_owned()),
        }
    }

    /// Whether the re-resolution retired the address of `conn`.
    fn is_retired(&self, conn: &R::TlsStream) -> bool {
        self.tcp.is_retired(R::parts(conn).0.sock_ref())
    }

    /// The check of `is_valid`, `is_valid_now` and `has_broken`: a retired address, else
    /// the liveness check.
    fn check(&self, conn: &mut R::TlsStream) -> Result<(), TlsError> {
        if self.is_retired(conn) {
            Err(TlsError::Tcp(NetError::Retired))
        } else {
            check_alive::<R>(conn)
        }
    }

    /// The re-resolution of the pool's manager: [`TcpManager::resolve_loop`] for TLS
    /// (the `tls(..)` builders spawn it when a resolve interval is set).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it stops the re-resolution.
    pub fn resolve_loop(pool: WeakPool<Self>) -> impl Future<Output = ()> + Send {
        crate::dns::Watch::run(pool)
    }

    async fn open(&self) -> Result<R::TlsStream, TlsError> {
        let start = Instant::now();
        let current = self.current();
        let (tcp, addr) = self.tcp.open().await.map_err(TlsError::Tcp)?;
        // The address parsed (the connect succeeded), so there is a name.
        let name = Self::name_in(&current, &self.tcp).unwrap_or_default();
        let server_name =
            ServerName::try_from(name.clone()).map_err(|source| TlsError::ServerName {
                name: name.clone(),
                source,
            })?;
        // The handshake gets what is left of one attempt's budget.
        let budget = self.tcp.options().attempt_timeout();
        let left = || budget.map(|t| t.saturating_sub(start.elapsed()));
        let limit = left().map(|t| t.max(Duration::from_millis(1)));
        let Current {
            config, generation, ..
        } = current;
        let tcp = Tracked::new(tcp).with_tag(generation);
        let mut stream = R::handshake(config.clone(), server_name, tcp, limit)
            .await
            .map_err(|e| handshake_error(addr, name.clone(), e))?;
        let wait = self
            .client_auth_wait
            .map(|wait| left().map_or(wait, |left| wait.min(left)));
        if let Some(wait) = wait.filter(|_| config.client_auth_cert_resolver.has_certs()) {
            let tls13 =
                R::parts_mut(&mut stream).1.protocol_version() == Some(ProtocolVersion::TLSv1_3);
            if tls13 {
                await_verdict::<R>(&mut stream, wait)
                    .await
                    .map_err(|refusal| match refusal {
                        Refusal::Tls(source) => TlsError::Handshake {
                            addr,
                            server_name: name,
                            source,
                        },
                        Refusal::Io(source) => TlsError::HandshakeIo {
                            addr,
                            server_name: name,
                            source,
                        },
                    })?;
            }
        }
        Ok(stream)
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
        std::future::ready(self.check(conn))
    }

    /// `is_valid`'s check, answered at once (the pool then needs no future for it).
    fn is_valid_now(&self, conn: &mut R::TlsStream) -> Option<Result<(), TlsError>> {
        Some(self.check(conn))
    }

    fn has_broken(&self, conn: &mut R::TlsStream) -> bool {
        self.check(conn).is_err()
    }
}

impl<R: TlsRuntime> Watched for TlsManager<R> {
    fn watch(&self) -> &Watch {
        self.tcp.watch()
    }

    fn address(&self) -> Option<Address> {
        self.tcp.address()
    }

    fn resolve(
        &self,
        address: &Address,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        Watched::resolve(&self.tcp, address)
    }

    fn peer(conn: &R::TlsStream) -> Option<SocketAddr> {
        crate::manager::peer_of(R::parts(conn).0.sock_ref())
    }
}

impl<R: Runtime> Clone for TlsManager<R> {
    fn clone(&self) -> Self {
        Self {
            tcp: self.tcp.clone(),
            current: RwLock::new(
                self.current
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
            client_auth_wait: self.client_auth_wait,
        }
    }
}

impl<R: Runtime> fmt::Debug for TlsManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsManager")
            .field("tcp", &self.tcp)
            .field(
                "server_name",
                &self
                    .current
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .server_name,
            )
            .field("client_auth_wait", &self.client_auth_wait)
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

    /// How long a connect waits for the server's verdict on the client certificate; see
    /// [`TlsManager::with_client_auth_wait`] (default 250 ms).
    pub fn client_auth_wait(mut self, wait: Option<Duration>) -> Self {
        self.client_auth_wait = wait;
        self
    }

    /// Replaces the pool settings with those of a core [`Builder`].
    pub fn pool_builder(self, core: Builder) -> Self {
        self.map(|b| b.pool_builder(core))
    }

    /// Replaces the socket options; see [`TcpBuilder::tcp_options`].
    pub fn tcp_options(self, options: crate::TcpOptions) -> Self {
        self.map(|b| b.tcp_options(options))
    }

    /// Sets `TCP_USER_TIMEOUT` on new connections; see [`TcpBuilder::user_timeout`].
    pub fn user_timeout(self, timeout: Option<Duration>) -> Self {
        self.map(|b| b.user_timeout(timeout))
    }

    /// Resolves host names with `resolver`; see [`TcpBuilder::resolver`].
    pub fn resolver(self, resolver: crate::Resolver) -> Self {
        self.map(|b| b.resolver(resolver))
    }

    /// Resolves the name again every `interval` and drains connections to addresses
    /// that left the answer; see [`TcpBuilder::resolve_interval`].
    pub fn resolve_interval(self, interval: Option<Duration>) -> Self {
        self.map(|b| b.resolve_interval(interval))
    }

    /// The drain window of the re-resolution; see [`TcpBuilder::drain_window`].
    pub fn drain_window(self, window: Duration) -> Self {
        self.map(|b| b.drain_window(window))
    }

    /// Bound on one connect, TCP connect and TLS handshake together (default 10 s). The
    /// manager enforces it itself, so a connect that takes too long fails with
    /// `Error::Connect` naming the address and the phase (`TCP connect to ...: timed out
    /// after 2s`, `TLS handshake with ...: timed out after 1.9s`); the pool's own
    /// `connect_timeout` is set a little longer, as a backstop.
    pub fn connect_timeout(self, timeout: Option<Duration>) -> Self {
        self.map(|b| b.connect_timeout(timeout))
    }

    crate::builder::pool_knobs!();

    crate::builder::hook_setters!(R::TlsStream, TlsError);

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
        manager.current_mut().server_name = self.server_name;
        R::can_start_maintenance()?;
        manager.client_auth_wait = self.client_auth_wait;
        let pool = crate::builder::build_with(core, self.hooks, manager)?;
        R::start_maintenance(&pool)?;
        if pool.manager().tcp().resolve_interval().is_some() {
            R::spawn(TlsManager::resolve_loop(pool.downgrade()))?;
        }
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
            client_auth_wait: Some(CLIENT_AUTH_WAIT),
            hooks: netpool_core::FnHooks::new(),
        }
    }
}
