//! Helpers shared by the smol tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use netpool_smol::TcpManager;
use netpool_testkit::chaos::scenario::{Client, Harness, Settings};
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

/// The chaos harness: tasks on smol's global executor.
pub struct Smol;

impl Harness for Smol {
    type Manager = TcpManager;

    fn pool(&self, addr: String, s: &Settings) -> netpool_smol::Pool {
        netpool_smol::tcp(addr)
            .max_size(s.max_size)
            .wait_timeout(Some(s.wait_timeout))
            .connect_timeout(Some(s.connect_timeout))
            .check_idle_after(s.check_idle_after)
            .build()
            .expect("valid settings")
    }

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        smol::block_on(async {
            let tasks: Vec<_> = clients.into_iter().map(smol::spawn).collect();
            let mut out = Vec::with_capacity(tasks.len());
            for task in tasks {
                out.push(task.await);
            }
            out
        })
    }

    fn echo<'a>(
        conn: &'a mut TcpStream,
        msg: &'a [u8],
        timeout: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        let exchange = async move {
            conn.write_all(msg).await?;
            let mut reply = vec![0; msg.len()];
            conn.read_exact(&mut reply).await?;
            if reply != msg {
                return Err(io::Error::other("the echo differs"));
            }
            Ok(())
        };
        netpool_smol::net::timeout(Some(timeout), exchange)
    }

    fn local_addr(conn: &TcpStream) -> io::Result<SocketAddr> {
        conn.local_addr()
    }
}
