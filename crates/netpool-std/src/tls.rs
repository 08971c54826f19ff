//! The blocking TLS manager (feature `tls`): [`TlsManager`], [`TlsPool`] and [`tls`],
//! over rustls's [`StreamOwned`].

use std::future::{Future, ready};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use netpool_net::rustls::pki_types::ServerName;
use netpool_net::rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::Threads;
use netpool_net::{TlsBuilder, TlsRuntime, Tracked};

/// A [`Manager`](netpool_core::Manager) of blocking TLS streams,
/// `rustls::StreamOwned<ClientConnection, Tracked<std::net::TcpStream>>` (a
/// [`Tracked`] stream derefs to the `TcpStream`): see
/// [`net::TlsManager`](netpool_net::TlsManager) for its behaviour.
///
/// The handshake blocks like the connect; it is bounded by what is left of the connect
/// attempt's budget ([`TcpOptions::connect_timeout`](crate::TcpOptions::connect_timeout),
/// which `tls(..).connect_timeout(..)` sets too) through socket timeouts.
pub type TlsManager = netpool_net::TlsManager<Threads>;

/// A pool of blocking TLS connections: `netpool_core::Pool<TlsManager>`.
pub type TlsPool = netpool_core::Pool<TlsManager>;

/// Starts building a [`TlsPool`] of connections to `addr` (`"host:port"`) whose server
/// certificates are checked with `config` for the host part of `addr` (set another name
/// with [`server_name`](TlsBuilder::server_name)), with a maintenance thread.
///
/// The same as `netpool_std::tcp(addr).tls(config)`. Which roots are trusted is the
/// `ClientConfig`'s: see the examples below.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::TlsEchoServer::start()?;
/// # let addr = server.addr().to_string();
/// # let config = server.client_config();
/// use std::io::{Read, Write};
///
/// // config: an Arc<rustls::ClientConfig> whose roots include the server's CA
/// let pool = netpool_std::tls(addr, config).server_name("localhost").max_size(4).build()?;
/// let mut conn = pool.get_blocking()?;
/// conn.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// conn.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A `ClientConfig` that trusts the Mozilla roots (feature `tls-webpki-roots`) or the
/// platform's (feature `tls-native-roots`), with the crypto provider this crate's features
/// chose (never `ClientConfig::builder()`, which panics when the application's rustls has
/// two providers and none installed):
///
/// ```no_run
/// let config = netpool_std::tls_config(netpool_std::webpki_roots())?;
/// // or: netpool_std::tls_config(netpool_std::native_roots()?)?;
/// let pool = netpool_std::tls("example.com:443", config).build()?;
/// # let _ = pool;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tls(addr: impl netpool_net::IntoAddress, config: Arc<ClientConfig>) -> TlsBuilder<Threads> {
    TlsBuilder::new(addr, config)
}

impl TlsRuntime for Threads {
    type TlsStream = StreamOwned<ClientConnection, Tracked<TcpStream>>;

    fn handshake(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        tcp: Tracked<TcpStream>,
        limit: Option<Duration>,
    ) -> impl Future<Output = io::Result<Self::TlsStream>> + Send {
        ready(handshake(config, name, tcp, limit))
    }

    fn parts(stream: &Self::TlsStream) -> (&Tracked<TcpStream>, &ClientConnection) {
        (&stream.sock, &stream.conn)
    }

    fn parts_mut(stream: &mut Self::TlsStream) -> (&Tracked<TcpStream>, &mut ClientConnection) {
        (&stream.sock, &mut stream.conn)
    }

    fn readable(tcp: &TcpStream, limit: Duration) -> impl Future<Output = io::Result<bool>> + Send {
        ready(readable(tcp, limit))
    }
}

/// A blocking wait for bytes (or an end of stream) on `tcp`, up to `limit`.
fn readable(tcp: &TcpStream, limit: Duration) -> io::Result<bool> {
    tcp.set_read_timeout(Some(limit.max(Duration::from_millis(1))))?;
    let peeked = tcp.peek(&mut [0; 1]);
    tcp.set_read_timeout(None)?;
    match peeked {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A blocking handshake, each read and write bounded by `limit`.
fn handshake(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    mut tcp: Tracked<TcpStream>,
    limit: Option<Duration>,
) -> io::Result<StreamOwned<ClientConnection, Tracked<TcpStream>>> {
    let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    tcp.set_read_timeout(limit)?;
    tcp.set_write_timeout(limit)?;
    let done = (|| {
        // Each complete_io runs flights until the handshake is done or fails (an end of
        // stream is an error); the count only bounds a peer that dribbles.
        for _ in 0..64 {
            if !conn.is_handshaking() {
                break;
            }
            conn.complete_io(&mut tcp)?;
        }
        if conn.is_handshaking() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the TLS handshake did not finish",
            ));
        }
        // The client's last flight, so the server sees the handshake finished.
        for _ in 0..64 {
            if !conn.wants_write() {
                break;
            }
            conn.write_tls(&mut tcp)?;
        }
        tcp.flush()
    })();
    if let Err(e) = done {
        // A blocking socket reports an expired timeout as WouldBlock on Unix.
        return Err(match (e.kind(), limit) {
            (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, Some(limit)) => io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {limit:?}"),
            ),
            _ => e,
        });
    }
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(None)?;
    Ok(StreamOwned::new(conn, tcp))
}
