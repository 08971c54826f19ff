//! Helpers shared by the tokio tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use netpool_testkit::chaos::scenario::{Client, Harness, Settings};
use netpool_tokio::TcpManager;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

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

/// The chaos harness: tasks on a 2-worker tokio runtime of its own.
pub struct Tokio {
    rt: Runtime,
}

impl Tokio {
    /// A new runtime.
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_io()
            .build()
            .expect("a tokio runtime");
        Self { rt }
    }

    /// Enters the runtime, for building a pool (its maintenance is spawned on it).
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.rt.enter()
    }
}

impl Harness for Tokio {
    type Manager = TcpManager;

    fn pool(&self, addr: String, s: &Settings) -> netpool_tokio::Pool {
        let _runtime = self.rt.enter(); // maintenance is spawned on it
        netpool_tokio::tcp(addr)
            .max_size(s.max_size)
            .wait_timeout(Some(s.wait_timeout))
            .connect_timeout(Some(s.connect_timeout))
            .check_idle_after(s.check_idle_after)
            .build()
            .expect("valid settings")
    }

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        self.rt.block_on(async {
            let tasks: Vec<_> = clients.into_iter().map(tokio::spawn).collect();
            let mut out = Vec::with_capacity(tasks.len());
            for task in tasks {
                out.push(task.await.expect("a client panicked"));
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
        netpool_tokio::net::timeout(Some(timeout), exchange)
    }

    fn local_addr(conn: &TcpStream) -> io::Result<SocketAddr> {
        conn.local_addr()
    }
}
