//! Helpers shared by the netpool-std tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use netpool_std::net::Tracked;
use netpool_std::rustls::{ClientConnection, StreamOwned};
use netpool_testkit::chaos::scenario::Client;
use netpool_testkit::harness::{Exec, blocking_exchange, run_on_threads};

/// The blocking TLS stream.
pub type Tls = StreamOwned<ClientConnection, Tracked<TcpStream>>;

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

    fn exchange<'a>(
        conn: &'a mut TcpStream,
        msg: &'a [u8],
        reply: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        blocking_exchange(conn, msg, reply)
    }

    fn exchange_tls<'a>(
        conn: &'a mut Tls,
        msg: &'a [u8],
        reply: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        blocking_exchange(conn, msg, reply)
    }
}
