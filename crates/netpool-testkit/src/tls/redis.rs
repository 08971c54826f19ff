//! [`TlsRedis`]: a TLS-only `redis-server` of the test's own, with the test PKI's
//! certificates written as PEM files.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::RedisServer;
use crate::tls::pki;

/// A `redis-server` that speaks only TLS, on a free loopback port, presenting the test
/// CA's certificate for `localhost` and `127.0.0.1` (the one
/// [`client_config`](crate::tls::client_config) trusts); with `client_auth`, it requires
/// a client certificate signed by the test CA. Killed, and its files removed, when
/// dropped.
///
/// ```no_run
/// let mut redis = netpool_testkit::tls::TlsRedis::start(false)?;
/// let _addr = redis.addr(); // TLS only
/// redis.server().kill(); // a crash
/// redis.server().restart()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TlsRedis {
    // Dropped first: the server stops before its files go.
    server: RedisServer,
    pem_dir: PathBuf,
}

impl TlsRedis {
    /// Writes the PEM files and starts the server.
    ///
    /// # Errors
    ///
    /// When the files cannot be written or the server does not start (not installed,
    /// built without TLS).
    pub fn start(client_auth: bool) -> io::Result<Self> {
        let pki = pki()?;
        let pem_dir = crate::redis::unique_dir("netpool-tls-redis");
        std::fs::create_dir_all(&pem_dir)?;
        let cleanup = Cleanup(pem_dir.clone());
        let write = |name: &str, text: String| -> io::Result<String> {
            let path = pem_dir.join(name);
            std::fs::write(&path, text)?;
            Ok(path.display().to_string())
        };
        let ca = write("ca.crt", pem(&pki.ca, "CERTIFICATE"))?;
        let cert = write("server.crt", pem(&pki.valid.0, "CERTIFICATE"))?;
        let key = write("server.key", pem(&pki.valid.1, "PRIVATE KEY"))?;
        let auth = if client_auth { "yes" } else { "no" };
        let server = RedisServer::start_with(&[
            "--port",
            "0",
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            auth,
        ])?;
        std::mem::forget(cleanup);
        Ok(Self { server, pem_dir })
    }

    /// The TLS address, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The server process, to kill and restart it.
    pub fn server(&mut self) -> &mut RedisServer {
        &mut self.server
    }

    /// The directory of the PEM files (`ca.crt`, `server.crt`, `server.key`).
    pub fn pem_dir(&self) -> &Path {
        &self.pem_dir
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        self.server.kill();
        let _ = std::fs::remove_dir_all(&self.pem_dir);
    }
}

/// Removes a directory unless forgotten.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// DER bytes as a PEM block with `label` (`CERTIFICATE`, `PRIVATE KEY`).
pub fn pem(der: &[u8], label: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::pem;

    #[test]
    fn pem_is_base64_with_padding() {
        assert_eq!(
            pem(b"Man", "X"),
            "-----BEGIN X-----\nTWFu\n-----END X-----\n"
        );
        assert_eq!(
            pem(b"Ma", "X"),
            "-----BEGIN X-----\nTWE=\n-----END X-----\n"
        );
        assert_eq!(pem(b"M", "X"), "-----BEGIN X-----\nTQ==\n-----END X-----\n");
    }
}
