//! Helpers shared by the netpool-std tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::future::{Future, ready};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use netpool_std::TcpManager;
use netpool_testkit::chaos::scenario::{Client, GetResult, Harness, Settings};

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

/// One thread per client, each driving its client with `block_on`; its checkouts are
/// `get_blocking` (the manager and the requests block too).
pub struct Threads;

impl Harness for Threads {
    type Manager = TcpManager;

    fn pool(&self, addr: String, s: &Settings) -> netpool_std::Pool {
        netpool_std::tcp(addr)
            .max_size(s.max_size)
            .wait_timeout(Some(s.wait_timeout))
            .connect_timeout(Some(s.connect_timeout))
            .check_idle_after(s.check_idle_after)
            .build()
            .expect("valid settings")
    }

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        let threads: Vec<_> = clients
            .into_iter()
            .map(|client| std::thread::spawn(move || futures_lite::future::block_on(client)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a client panicked"))
            .collect()
    }

    fn echo<'a>(
        conn: &'a mut TcpStream,
        msg: &'a [u8],
        timeout: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        ready(blocking_echo(conn, msg, timeout))
    }

    fn local_addr(conn: &TcpStream) -> io::Result<SocketAddr> {
        conn.local_addr()
    }

    fn get(pool: &netpool_std::Pool) -> impl Future<Output = GetResult<TcpManager>> + Send {
        ready(pool.get_blocking())
    }
}

/// A blocking round trip bounded by socket timeouts (reads and writes each get `timeout`;
/// the echo is one small write and one small read).
fn blocking_echo(conn: &mut TcpStream, msg: &[u8], timeout: Duration) -> io::Result<()> {
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    conn.write_all(msg)?;
    let mut reply = vec![0; msg.len()];
    let read = conn.read_exact(&mut reply);
    // A blocking socket reports an expired read timeout as WouldBlock on Unix.
    if let Err(e) = read {
        if e.kind() == io::ErrorKind::WouldBlock {
            return Err(io::Error::new(io::ErrorKind::TimedOut, e));
        }
        return Err(e);
    }
    conn.set_read_timeout(None)?;
    conn.set_write_timeout(None)?;
    if reply != msg {
        return Err(io::Error::other("the echo differs"));
    }
    Ok(())
}
