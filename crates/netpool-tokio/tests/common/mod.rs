//! Helpers shared by the tokio tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::io;
use std::time::Duration;

use netpool_testkit::chaos::scenario::Client;
use netpool_testkit::harness::{Exec, echo_once, join_all};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Bound on every wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(10);

/// One echo round trip of `msg`.
pub async fn echo(conn: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    echo_once::<Tokio>(conn, msg).await
}

/// The harnesses' runtime (`Tcp(Tokio::new())`, `Tls(Tokio::new())`): tasks on a
/// 2-worker tokio runtime of its own.
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

impl Exec for Tokio {
    type Runtime = netpool_tokio::Tokio;

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        let tasks = clients.into_iter().map(|c| self.rt.spawn(c)).collect();
        let done = self.rt.block_on(join_all(tasks));
        done.into_iter()
            .map(|r| r.expect("a client panicked"))
            .collect()
    }

    fn build<T>(&self, build: impl FnOnce() -> T) -> T {
        let _runtime = self.rt.enter(); // maintenance is spawned on it
        build()
    }

    netpool_testkit::async_exchange!(tokio::io);
}
