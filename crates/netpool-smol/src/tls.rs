//! The smol TLS manager (feature `tls`): [`TlsManager`], [`TlsPool`] and [`tls`], over
//! futures-rustls.

use std::sync::Arc;

use netpool_net::rustls::ClientConfig;
use netpool_net::{IntoAddress, TlsBuilder};

use crate::Smol;

/// A [`Manager`](netpool_core::Manager) of `futures_rustls::client::TlsStream`s over
/// smol's [`TcpStream`](smol::net::TcpStream)s: see [`netpool_net::TlsManager`] for its behaviour.
///
/// The handshake is part of `connect`: the pool's `connect_timeout` and the caller's
/// deadline bound the TCP connect and the handshake together.
pub type TlsManager = netpool_net::TlsManager<Smol>;

/// A pool of smol TLS connections: `netpool_core::Pool<TlsManager>`.
pub type TlsPool = netpool_core::Pool<TlsManager>;

/// Starts building a [`TlsPool`] of connections to `addr` (`"host:port"`) whose server
/// certificates are checked with `config` for the host part of `addr` (set another name
/// with [`server_name`](TlsBuilder::server_name)), maintained by a smol task.
///
/// The same as `netpool_smol::tcp(addr).tls(config)`.
/// Which roots are trusted is the `ClientConfig`'s: see the examples below.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::TlsEchoServer::start()?;
/// # let addr = server.addr().to_string();
/// # let config = server.client_config();
/// use smol::io::{AsyncReadExt, AsyncWriteExt};
///
/// // config: an Arc<rustls::ClientConfig> whose roots include the server's CA
/// let pool = netpool_smol::tls(addr, config).max_size(16).build()?;
/// smol::block_on(async {
///     let mut conn = pool.get().await?; // a futures_rustls::client::TlsStream<Tracked<TcpStream>>
///     conn.write_all(b"ping").await?;
///     let mut reply = [0; 4];
///     conn.read_exact(&mut reply).await?;
///     assert_eq!(&reply, b"ping");
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A `ClientConfig` that trusts the Mozilla roots (feature `tls-webpki-roots`) or the
/// platform's (feature `tls-native-roots`), with the crypto provider this crate's features
/// chose (never `ClientConfig::builder()`, which panics when the application's rustls has
/// two providers and none installed):
///
/// ```no_run
/// let config = netpool_smol::tls_config(netpool_smol::webpki_roots())?;
/// // or: netpool_smol::tls_config(netpool_smol::native_roots()?)?;
/// let pool = netpool_smol::tls("example.com:443", config).build()?;
/// # let _ = pool;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tls(addr: impl IntoAddress, config: Arc<ClientConfig>) -> TlsBuilder<Smol> {
    TlsBuilder::new(addr, config)
}

netpool_net::async_tls_runtime!(Smol, smol::net::TcpStream, futures_rustls);
