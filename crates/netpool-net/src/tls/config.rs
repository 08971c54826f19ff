//! The crypto provider chosen by cargo features, and `ClientConfig`s built with it.
//!
//! rustls needs a crypto provider. `ClientConfig::builder()` takes the process-wide one,
//! and panics when it cannot tell which: when rustls was built with both `ring` and
//! `aws-lc-rs` (an application that adds `tokio-rustls = "0.26"` with its default
//! features gets `aws-lc-rs` next to netpool's `ring`) and none was installed. These
//! helpers name the provider explicitly (`ClientConfig::builder_with_provider`), so they
//! work whatever else the application's rustls was built with.

#[cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]
use std::sync::Arc;

#[cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]
use rustls::crypto::CryptoProvider;
#[cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]
use rustls::{ClientConfig, RootCertStore};

/// The crypto provider netpool's features chose: aws-lc-rs with feature `tls-aws-lc-rs`,
/// else ring (feature `tls-ring`, a default feature).
///
/// Pass it to `ClientConfig::builder_with_provider` to build a configuration that never
/// depends on a process-wide default.
///
/// # Examples
///
/// ```
/// use netpool_net::{rustls::ClientConfig, tls_provider};
///
/// let roots = netpool_net::rustls::RootCertStore::empty(); // add your CA here
/// let config = ClientConfig::builder_with_provider(tls_provider())
///     .with_safe_default_protocol_versions()?
///     .with_root_certificates(roots)
///     .with_no_client_auth();
/// # let _ = config;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]
pub fn tls_provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "tls-aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "tls-aws-lc-rs"))]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

/// A client configuration that trusts `roots`, with [`tls_provider`] and rustls's
/// default protocol versions (TLS 1.3 and 1.2), no client certificate.
///
/// # Errors
///
/// rustls's, if the provider supports none of the protocol versions (not the case for
/// ring and aws-lc-rs).
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::TlsEchoServer::start()?;
/// # let addr = server.addr().to_string();
/// # let roots = netpool_testkit::tls::test_roots()?;
/// // roots: a RootCertStore with your CA, or webpki_roots() / native_roots()
/// let config = netpool_net::tls_config(roots)?;
/// let pool = netpool_std::tls(addr, config).build()?;
/// let _conn = pool.get_blocking()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))]
pub fn tls_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, rustls::Error> {
    let config = ClientConfig::builder_with_provider(tls_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The Mozilla root certificates of the `webpki-roots` crate (feature
/// `tls-webpki-roots`): the same on every machine, updated with the crate.
///
/// # Examples
///
/// ```
/// let config = netpool_net::tls_config(netpool_net::webpki_roots())?;
/// let pool = netpool_std::tls("example.com:443", config).build()?; // opens nothing yet
/// # let _ = pool;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "tls-webpki-roots")]
pub fn webpki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The platform's root certificates, loaded through `rustls-native-certs` (feature
/// `tls-native-roots`): the system store on Linux (`SSL_CERT_FILE` and `SSL_CERT_DIR`
/// are honoured), the keychain on macOS, the certificate store on Windows.
///
/// Certificates that do not parse are skipped.
///
/// # Errors
///
/// When no certificate could be loaded: the loader's first error, or `NotFound`.
///
/// # Examples
///
/// ```
/// # // A machine without a CA bundle (a bare container) has no roots to load.
/// # let Ok(roots) = netpool_net::native_roots() else { return Ok(()) };
/// let config = netpool_net::tls_config(roots)?; // roots = native_roots()?
/// let pool = netpool_std::tls("example.com:443", config).build()?;
/// # let _ = pool;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "tls-native-roots")]
pub fn native_roots() -> std::io::Result<rustls::RootCertStore> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    if added > 0 {
        return Ok(roots);
    }
    Err(match loaded.errors.into_iter().next() {
        Some(e) => std::io::Error::other(e),
        None => std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no root certificate found in the platform's store",
        ),
    })
}
