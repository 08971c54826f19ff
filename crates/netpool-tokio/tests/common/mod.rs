//! Helpers shared by the tokio tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(10);

/// One echo round trip of `msg`.
pub async fn echo(conn: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    conn.write_all(msg).await?;
    let mut reply = vec![0; msg.len()];
    conn.read_exact(&mut reply).await?;
    assert_eq!(reply, msg);
    Ok(())
}

/// A loopback address with nothing listening (bound, then released).
pub fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}
