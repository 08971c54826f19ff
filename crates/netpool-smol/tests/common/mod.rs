//! Helpers shared by the smol tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::future::Future;
use std::io;
use std::time::Duration;

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

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

/// Runs `fut` to completion on this thread, failing the test after [`LIMIT`].
pub fn run<T>(fut: impl Future<Output = T>) -> T {
    smol::block_on(smol::future::or(fut, async {
        smol::Timer::after(LIMIT).await;
        panic!("the test did not finish within {LIMIT:?}")
    }))
}
