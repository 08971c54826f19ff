//! Helpers shared by the netpool-std tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use netpool_testkit::chaos::scenario::Client;
use netpool_testkit::harness::{Exec, run_on_threads};

/// Bound on every wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(10);

/// One echo round trip of `msg`.
pub fn echo(conn: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    conn.write_all(msg)?;
    let mut reply = vec![0; msg.len()];
    conn.read_exact(&mut reply)?;
    assert_eq!(reply, msg);
    Ok(())
}

/// The harnesses' runtime (`Tcp(Threads)`, `Tls(Threads)`): one thread per client, each
/// driving its client with `block_on`; its checkouts are `get_blocking` (the manager and
/// the requests block too).
#[derive(Debug, Clone, Copy)]
pub struct Threads;

impl Exec for Threads {
    type Runtime = netpool_std::Threads;

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        run_on_threads(clients)
    }

    netpool_testkit::blocking_exchange!();
}
