//! Helpers shared by the smol tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::future::Future;
use std::io;
use std::time::Duration;

use netpool_testkit::chaos::scenario::Client;
use netpool_testkit::harness::{Exec, echo_once, join_all};
use smol::net::TcpStream;

/// Bound on every wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(10);

/// One echo round trip of `msg`.
pub async fn echo(conn: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    echo_once::<Smol>(conn, msg).await
}

/// Runs `fut` to completion on this thread, failing the test after [`LIMIT`].
pub fn run<T>(fut: impl Future<Output = T>) -> T {
    smol::block_on(smol::future::or(fut, async {
        smol::Timer::after(LIMIT).await;
        panic!("the test did not finish within {LIMIT:?}")
    }))
}

/// The harnesses' runtime (`Tcp(Smol)`, `Tls(Smol)`): tasks on smol's global executor.
#[derive(Debug, Clone, Copy)]
pub struct Smol;

impl Exec for Smol {
    type Runtime = netpool_smol::Smol;

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        smol::block_on(join_all(clients.into_iter().map(smol::spawn).collect()))
    }

    netpool_testkit::async_exchange!(smol::io);
}
