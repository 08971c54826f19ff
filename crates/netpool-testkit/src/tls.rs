//! [`TlsEchoServer`]: a thread-per-connection TLS echo server on a loopback port, with
//! certificates generated at start-up by rcgen (nothing is fetched or read from disk).

pub mod checks;
mod redis;

pub use self::redis::{TlsRedis, pem};

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::server::{Core, Server, Service, State};

/// The rustls crate the server and [`client_config`] use.
pub use rustls;

/// Which certificate a [`TlsEchoServer`] presents.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCert {
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, valid now.
    Valid,
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, expired in 2001.
    Expired,
    /// Self-signed, for `localhost` and `127.0.0.1`: no client trusts it.
    Untrusted,
}

/// How a [`TlsEchoServer`] is set up.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerOptions {
    /// The certificate it presents.
    pub cert: ServerCert,
    /// The ALPN protocols it accepts (none by default).
    pub alpn: Vec<Vec<u8>>,
    /// Whether it requires a client certificate signed by the test CA.
    pub client_auth: bool,
}

/// How [`TlsEchoServer::close_all`] closes the connections.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// A `close_notify` alert, then the TCP connection is closed.
    Notify,
    /// An abortive close (`SO_LINGER` 0): the client gets a reset.
    Reset,
}

/// A snapshot of a [`TlsEchoServer`]'s counts.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsCounts {
    /// TCP connections accepted since the server was created (across restarts).
    pub accepted: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed.
    pub failed_handshakes: u64,
    /// Handshakes in which the client presented a certificate.
    pub client_certs: u64,
    /// Connections open now.
    pub live: usize,
    /// The most connections open at once.
    pub peak: usize,
    /// Connections closed so far, by either side.
    pub closed: u64,
}

/// A TLS echo server on `127.0.0.1` (rustls, ring provider): every byte received is
/// written back, in one record per read.
///
/// Its certificate is issued at start by a test CA that lives as long as the process;
/// [`client_config`](Self::client_config) trusts that CA. It can close its connections
/// with a `close_notify` or a reset, cut its next reply in the middle of a record, and
/// be stopped and restarted on the same port. Dropping it stops it.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use netpool_testkit::TlsEchoServer;
/// use rustls::pki_types::ServerName;
///
/// let server = TlsEchoServer::start()?;
/// let tcp = std::net::TcpStream::connect(server.addr())?;
/// let name = ServerName::try_from("localhost")?.to_owned();
/// let conn = rustls::ClientConnection::new(server.client_config(), name)?;
/// let mut tls = rustls::StreamOwned::new(conn, tcp);
/// tls.write_all(b"hi")?;
/// let mut reply = [0; 2];
/// tls.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"hi");
/// assert_eq!(server.counts().handshakes, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TlsEchoServer {
    server: Server<TlsEcho>,
}

/// The TLS echo [`Service`]: a connection's handle is the command its thread follows.
#[derive(Debug)]
struct TlsEcho {
    config: Arc<ServerConfig>,
    truncate: AtomicBool,
}

/// The TLS server's own counts.
#[derive(Debug, Default)]
struct Handshakes {
    done: u64,
    failed: u64,
    client_certs: u64,
}

const RUN: u8 = 0;
const NOTIFY: u8 = 1;
const RESET: u8 = 2;

impl TlsEchoServer {
    /// Starts a server with a valid certificate on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// The error of binding or of starting its threads.
    pub fn start() -> io::Result<Self> {
        Self::start_with(TlsServerOptions::default())
    }

    /// Starts a server set up as `options` says.
    ///
    /// # Errors
    ///
    /// The error of binding, of starting its threads, or of setting up TLS.
    pub fn start_with(options: TlsServerOptions) -> io::Result<Self> {
        let service = TlsEcho {
            config: server_config(&options)?,
            truncate: AtomicBool::new(false),
        };
        Ok(Self {
            server: Server::start(service)?,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// A client configuration that trusts the test CA, without a client certificate.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        client_config(false, &[])
    }

    /// The counts, read together.
    pub fn counts(&self) -> TlsCounts {
        counts(&self.server.core.lock())
    }

    /// Blocks until `done` holds for the counts or `timeout` passes; returns whether it
    /// held. Woken by every accept, handshake and close.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(TlsCounts) -> bool) -> bool {
        self.server.wait_until(timeout, |s| done(counts(s)))
    }

    /// Closes every open connection now, as `how` says; the server keeps accepting.
    pub fn close_all(&self, how: Close) {
        let command = match how {
            Close::Notify => NOTIFY,
            Close::Reset => RESET,
        };
        for conn in self.server.core.lock().conns.values() {
            conn.handle.store(command, Ordering::SeqCst);
            // Wakes the connection's thread from its read (it sees end of stream).
            let _ = conn.stream.shutdown(Shutdown::Read);
        }
    }

    /// From now on, each reply is cut in the middle of its TLS record and the connection
    /// closed (`false`: replies are whole again).
    pub fn truncate_replies(&self, on: bool) {
        self.server
            .core
            .service
            .truncate
            .store(on, Ordering::SeqCst);
    }

    /// Stops the server: closes the listener and every connection, and waits for its
    /// threads.
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Starts a stopped server again on the same port.
    ///
    /// # Errors
    ///
    /// The error of binding (`AddrInUse` if another socket took the port meanwhile).
    pub fn restart(&self) -> io::Result<()> {
        self.server.restart()
    }
}

impl Default for TlsServerOptions {
    fn default() -> Self {
        Self {
            cert: ServerCert::Valid,
            alpn: Vec::new(),
            client_auth: false,
        }
    }
}

impl Service for TlsEcho {
    type Handle = Arc<AtomicU8>;
    type State = Handshakes;
    const NAME: &'static str = "tls-echo";

    fn handle(&self) -> Arc<AtomicU8> {
        Arc::new(AtomicU8::new(RUN))
    }

    fn serve(core: &Core<Self>, stream: TcpStream, command: &Arc<AtomicU8>) {
        let _ = stream.set_nodelay(true);
        let outcome = ServerConnection::new(core.service.config.clone()).map(|conn| {
            let mut tls = StreamOwned::new(conn, stream);
            let shook = handshake(&mut tls);
            {
                let mut state = core.lock();
                if shook.is_ok() {
                    state.own.done += 1;
                    if tls.conn.peer_certificates().is_some_and(|c| !c.is_empty()) {
                        state.own.client_certs += 1;
                    }
                } else {
                    state.own.failed += 1;
                }
            }
            core.changed.notify_all();
            if shook.is_ok() {
                core.service.echo(&mut tls, command);
            }
            tls
        });
        if let Ok(mut tls) = outcome {
            match command.load(Ordering::SeqCst) {
                NOTIFY => {
                    tls.conn.send_close_notify();
                    let _ = tls.conn.write_tls(&mut tls.sock);
                    let _ = tls.sock.shutdown(Shutdown::Write);
                }
                RESET => {
                    let _ = socket2::SockRef::from(&tls.sock).set_linger(Some(Duration::ZERO));
                }
                _ => {}
            }
            drop(tls);
        }
    }
}

impl TlsEcho {
    fn echo(&self, tls: &mut StreamOwned<ServerConnection, TcpStream>, command: &AtomicU8) {
        let mut buf = [0u8; 16 * 1024];
        while command.load(Ordering::SeqCst) == RUN {
            let n = match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if self.truncate.load(Ordering::SeqCst) {
                // Half a record, then the connection ends.
                let _ = tls.conn.writer().write_all(&buf[..n]);
                let mut record = Vec::new();
                let _ = tls.conn.write_tls(&mut record);
                let _ = tls.sock.write_all(&record[..record.len() / 2]);
                let _ = tls.sock.shutdown(Shutdown::Both);
                return;
            }
            if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                return;
            }
        }
    }
}

fn counts(state: &State<TlsEcho>) -> TlsCounts {
    TlsCounts {
        accepted: state.accepted,
        handshakes: state.own.done,
        failed_handshakes: state.own.failed,
        client_certs: state.own.client_certs,
        live: state.conns.len(),
        peak: state.peak,
        closed: state.closed,
    }
}

/// Completes the server handshake, bounded by a 10 s read timeout.
fn handshake(tls: &mut StreamOwned<ServerConnection, TcpStream>) -> io::Result<()> {
    tls.sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    for _ in 0..64 {
        if !tls.conn.is_handshaking() {
            break;
        }
        tls.conn.complete_io(&mut tls.sock)?;
    }
    tls.sock.set_read_timeout(None)
}

/// The test PKI: a CA, the server certificates and a client certificate, made once per
/// process.
pub(crate) struct Pki {
    pub(crate) ca: CertificateDer<'static>,
    pub(crate) valid: (CertificateDer<'static>, Vec<u8>),
    pub(crate) expired: (CertificateDer<'static>, Vec<u8>),
    pub(crate) untrusted: (CertificateDer<'static>, Vec<u8>),
    pub(crate) client: (CertificateDer<'static>, Vec<u8>),
    /// A client certificate no CA signed: servers that check client certificates refuse
    /// it.
    pub(crate) rogue_client: (CertificateDer<'static>, Vec<u8>),
}

pub(crate) fn pki() -> io::Result<&'static Pki> {
    static PKI: OnceLock<Result<Pki, String>> = OnceLock::new();
    PKI.get_or_init(|| make_pki().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

fn make_pki() -> Result<Pki, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "netpool test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let names = || vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let server_params = || -> Result<CertificateParams, rcgen::Error> {
        let mut params = CertificateParams::new(names())?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        Ok(params)
    };
    let issue = |params: CertificateParams| -> Result<_, rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        Ok((cert.der().clone(), key.serialize_der()))
    };
    let valid = issue(server_params()?)?;
    let mut old = server_params()?;
    old.not_before = rcgen::date_time_ymd(2000, 1, 1);
    old.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let expired = issue(old)?;
    let untrusted = {
        let key = KeyPair::generate()?;
        let cert = server_params()?.self_signed(&key)?;
        (cert.der().clone(), key.serialize_der())
    };
    let mut client_params = CertificateParams::new(vec!["client.netpool.test".to_owned()])?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, "netpool test client");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = issue(client_params.clone())?;
    let rogue_client = {
        let key = KeyPair::generate()?;
        let cert = client_params.self_signed(&key)?;
        (cert.der().clone(), key.serialize_der())
    };
    Ok(Pki {
        ca: ca.der().clone(),
        valid,
        expired,
        untrusted,
        client,
        rogue_client,
    })
}

fn key(der: &[u8]) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec()))
}

fn roots() -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(pki()?.ca.clone()).map_err(io::Error::other)?;
    Ok(roots)
}

/// The server configuration of a [`TlsEchoServer`] started with `options`, for servers
/// of one's own (a bench's async server, say) that [`client_config`] trusts.
///
/// # Errors
///
/// When the test PKI could not be made or rustls rejects the certificate.
pub fn server_config(options: &TlsServerOptions) -> io::Result<Arc<ServerConfig>> {
    let pki = pki()?;
    let (cert, key_der) = match options.cert {
        ServerCert::Valid => &pki.valid,
        ServerCert::Expired => &pki.expired,
        ServerCert::Untrusted => &pki.untrusted,
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let builder = if options.client_auth {
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots()?), provider())
            .build()
            .map_err(io::Error::other)?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(vec![cert.clone()], key(key_der))
        .map_err(io::Error::other)?;
    config.alpn_protocols = options.alpn.clone();
    Ok(Arc::new(config))
}

/// A client configuration that trusts the test CA, offers the `alpn` protocols and,
/// with `client_cert`, presents the test client certificate.
///
/// Built with ring named explicitly (`builder_with_provider`): it works whatever
/// providers rustls was built with.
///
/// # Panics
///
/// If the test PKI could not be made (rcgen failed).
pub fn client_config(client_cert: bool, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let identity = if client_cert {
        ClientIdentity::Trusted
    } else {
        ClientIdentity::None
    };
    client_config_as(identity, alpn)
}

/// Which client certificate a [`client_config_as`] presents.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIdentity {
    /// None.
    None,
    /// The test client certificate, signed by the test CA.
    Trusted,
    /// A self-signed client certificate: a server that checks client certificates
    /// refuses it.
    Rogue,
}

/// A client configuration that trusts the test CA, offers the `alpn` protocols and
/// presents the client certificate `identity` says.
///
/// # Panics
///
/// If the test PKI could not be made (rcgen failed).
pub fn client_config_as(identity: ClientIdentity, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let pki = pki().expect("the test PKI");
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots().expect("the test CA's roots"));
    let cert =
        |(cert, key): &(CertificateDer<'static>, Vec<u8>)| (vec![cert.clone()], self::key(key));
    let mut config = match identity {
        ClientIdentity::None => builder.with_no_client_auth(),
        ClientIdentity::Trusted => {
            let (chain, key) = cert(&pki.client);
            builder
                .with_client_auth_cert(chain, key)
                .expect("the test client certificate")
        }
        ClientIdentity::Rogue => {
            let (chain, key) = cert(&pki.rogue_client);
            builder
                .with_client_auth_cert(chain, key)
                .expect("the rogue client certificate")
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// The test CA as a root store, for a client configuration of one's own.
///
/// # Errors
///
/// When the test PKI could not be made.
pub fn test_roots() -> io::Result<RootCertStore> {
    roots()
}

/// The provider of the test servers and of the test clients' configurations.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
