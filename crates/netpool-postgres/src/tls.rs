//! TLS for tokio-postgres with rustls (ring provider): the `sslmode`s, and the
//! `TlsConnect` that puts the protocol tap above the TLS stream.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect};

use crate::config::SslMode;
use crate::error::ConfigError;
use crate::session::{Session, Tap};

/// The rustls client configuration for `mode`, with the roots in `root_cert` (a PEM file,
/// libpq's `sslrootcert`). `None` for `disable`.
pub(crate) fn client_config(
    mode: SslMode,
    root_cert: Option<&Path>,
) -> Result<Option<Arc<ClientConfig>>, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match root_cert {
        Some(path) => Some(load_roots(path)?),
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (SslMode::Disable, _) => return Ok(None),
        // libpq: with a root certificate, `require` verifies the chain as `verify-ca` does.
        (SslMode::Prefer, _) | (SslMode::Require, None) => Arc::new(Lenient {
            chain: None,
            provider: provider.clone(),
        }),
        (SslMode::Require | SslMode::VerifyCa, Some(roots)) => Arc::new(Lenient {
            chain: Some(webpki_verifier(roots, &provider)?),
            provider: provider.clone(),
        }),
        (SslMode::VerifyFull, Some(roots)) => webpki_verifier(roots, &provider)?,
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(ConfigError::MissingRootCert { mode });
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ConfigError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

fn load_roots(path: &Path) -> Result<RootCertStore, ConfigError> {
    let bad = |reason: String| ConfigError::RootCert {
        path: path.to_path_buf(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".to_owned()));
    }
    Ok(roots)
}

fn webpki_verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, ConfigError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ConfigError::RootCert {
            path: Default::default(),
            reason: e.to_string(),
        })
}

/// Writes the `ServerCertVerifier` methods named in the list, which check a TLS 1.2 or
/// 1.3 handshake signature: each calls the `rustls::crypto` function of its name with the
/// provider's algorithms.
macro_rules! verify_signature {
    ($($name:ident),+) => {$(
        fn $name(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            $name(message, cert, dss, &self.provider.signature_verification_algorithms)
        }
    )+};
}

/// The `sslmode`s that check less than rustls's default verifier: the handshake
/// signatures are always checked, the certificate as `chain` says.
#[derive(Debug)]
struct Lenient {
    /// `Some` (`sslmode=verify-ca`, or `require` with a root certificate): the chain must
    /// lead to a root, any host name goes. `None` (`prefer`, or `require` without a root
    /// certificate): encrypted, not authenticated, as libpq.
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    // The handshake signatures, checked as the webpki verifier checks them (with the
    // same provider's algorithms).
    verify_signature!(verify_tls12_signature, verify_tls13_signature);

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The `TlsConnect` for one connect: the handshake over the TCP tap (made passive), and
/// a new tap above the TLS stream.
pub(crate) struct Connector {
    /// `None` with `sslmode=disable` and on Unix sockets, where tokio-postgres never
    /// asks for TLS.
    pub(crate) config: Option<Arc<ClientConfig>>,
    /// `None` if the host is not a valid server name.
    pub(crate) name: Option<ServerName<'static>>,
    pub(crate) session: Arc<Session>,
}

/// A boxed, sendable future.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> TlsConnect<Tap<S>> for Connector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = BoxFuture<io::Result<TlsStream<S>>>;

    fn connect(self, mut stream: Tap<S>) -> Self::Future {
        Box::pin(async move {
            stream.set_passive();
            let config = self
                .config
                .ok_or_else(|| io::Error::other("TLS is off for this connection"))?;
            let name = self.name.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the host is not a valid TLS server name",
                )
            })?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await?;
            Ok(TlsStream(Tap::new(tls, self.session, false)))
        })
    }
}

/// A TLS session to the server, as tokio-postgres sees it.
#[derive(Debug)]
pub(crate) struct TlsStream<S>(Tap<tokio_rustls::client::TlsStream<Tap<S>>>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM channel binding needs the hash named by the certificate's signature
        // algorithm; without a certificate parser here, none is offered (the default
        // `channel_binding=prefer` then authenticates without it).
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
