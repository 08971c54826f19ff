//! Helpers of the tests against real servers.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::sync::Arc;
use std::time::Duration;

use netpool_testkit::RedisServer;

/// Whether this run must have the servers (`CI=true`).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips loudly, or fails under `CI=true`.
pub fn skip(what: &str) {
    assert!(!ci(), "CI=true and {what}");
    eprintln!("\n!!!!! SKIPPING a test: {what}; under CI=true this is a failure.");
}

/// The shared Redis at `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`), if it
/// answers (else skipped loudly, or a failure under CI).
pub fn live_url() -> Option<String> {
    let url =
        std::env::var("NETPOOL_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = url
        .rsplit('@')
        .next()
        .unwrap_or(&url)
        .trim_start_matches("redis://");
    let addr = addr.split('/').next().unwrap_or(addr).to_owned();
    let up = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    if up {
        Some(url)
    } else {
        skip(&format!(
            "no Redis server answers at {url} (set NETPOOL_TEST_REDIS)"
        ));
        None
    }
}

/// A redis-server of the test's own, or `None` (skipped loudly; a failure under CI).
pub fn own_server(args: &[&str]) -> Option<RedisServer> {
    if !RedisServer::installed() {
        skip("redis-server is not installed");
        return None;
    }
    Some(RedisServer::start_with(args).expect("redis-server starts"))
}

/// A TLS redis-server of the test's own (`localhost` and 127.0.0.1, no client
/// certificates), and the PEM of the CA that signed its certificate; or `None` (skipped
/// loudly; a failure under CI).
pub fn own_tls_server() -> Option<(RedisServer, String)> {
    let dir = std::env::temp_dir().join(unique("tls").replace(':', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_pem, cert_pem, key_pem) = certificates();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    std::fs::write(path("ca.pem"), &ca_pem).unwrap();
    std::fs::write(path("cert.pem"), &cert_pem).unwrap();
    std::fs::write(path("key.pem"), &key_pem).unwrap();
    let server = own_server(&[
        "--port",
        "0",
        "--tls-cert-file",
        &path("cert.pem"),
        "--tls-key-file",
        &path("key.pem"),
        "--tls-ca-cert-file",
        &path("ca.pem"),
        "--tls-auth-clients",
        "no",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    Some((server?, ca_pem))
}

/// [`own_server`] whose default user needs `password` (`CONFIG SET requirepass`).
pub fn own_server_with_password(password: &str) -> Option<RedisServer> {
    let server = own_server(&[])?;
    let set = server.command(&["CONFIG", "SET", "requirepass", password]);
    assert_eq!(set.unwrap(), "+OK");
    Some(server)
}

/// Bounds a test: fails it if `f` has not finished within `limit`.
pub async fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {limit:?}"))
}

/// A key no other run uses.
pub fn unique(prefix: &str) -> String {
    // The count too: tests run in parallel threads, which can read the same time.
    static NAMES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NAMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "netpool-redis:test:{prefix}:{}:{nanos}:{n}",
        std::process::id()
    )
}

/// A CA, and a certificate it signed for `localhost` and 127.0.0.1, as PEM.
pub fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (
        netpool_testkit::tls::pem(ca_cert.der(), "CERTIFICATE"),
        netpool_testkit::tls::pem(cert.der(), "CERTIFICATE"),
        netpool_testkit::tls::pem(&key.serialize_der(), "PRIVATE KEY"),
    )
}

pub fn client_config(ca_pem: &str) -> Arc<netpool_tokio::rustls::ClientConfig> {
    use netpool_tokio::rustls::pki_types::CertificateDer;
    use netpool_tokio::rustls::pki_types::pem::PemObject;
    use netpool_tokio::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
