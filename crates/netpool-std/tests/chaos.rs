//! The chaos suite on threads: 32 client threads through a pool of 8, behind a
//! fault-injecting proxy. The scenarios live in `netpool_testkit::chaos::scenario`; this
//! file only says how to build a blocking pool, run threads and make one request.

use std::future::{Future, ready};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use netpool_std::TcpManager;
use netpool_testkit::EchoServer;
use netpool_testkit::chaos::scenario::{self, Client, Harness, Outcome, Settings};
use netpool_testkit::chaos::{ChaosProxy, Mode};

/// One thread per client, each driving its client with `block_on` (the pool's `get` on a
/// thread is `get_blocking`; the manager and the requests block).
struct Threads;

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

#[test]
fn outage_refused() -> io::Result<()> {
    let report = scenario::outage(&Threads, &Settings::issue(), Duration::from_millis(1500))?;
    eprintln!("{report:#?}");
    report.assert_targets();
    Ok(())
}

#[test]
fn blackhole_connect_timeout_and_unanswered() -> io::Result<()> {
    let report = scenario::blackhole(&Threads)?;
    eprintln!("{report:#?}");
    report.assert_targets();
    Ok(())
}

#[test]
fn cut_mid_request_discarded() -> io::Result<()> {
    let report = scenario::cut_mid_request(&Threads)?;
    eprintln!("{report:#?}");
    report.assert_targets();
    Ok(())
}

#[test]
fn idle_outage_hands_out_no_dead_connection() -> io::Result<()> {
    let mut settings = Settings::issue();
    settings.check_idle_after = Some(Duration::from_millis(300));
    let report = scenario::idle_outage(&Threads, &settings, Duration::from_millis(600))?;
    eprintln!("{report:#?}");
    report.assert_targets();
    Ok(())
}

#[test]
fn reset_on_accept() -> io::Result<()> {
    let report = scenario::reset(&Threads)?;
    eprintln!("{report:#?}");
    report.assert_targets();
    Ok(())
}

/// Finding (adapters): `tcp(..).connect_timeout(d)` also sets the TCP manager's own
/// per-attempt timeout to `d`; it fires first, so a stalled connect is reported as
/// `Error::Connect` (an I/O timeout inside), and `is_connect_timeout()` is false.
#[test]
fn stalled_connect_is_connect_timeout() -> io::Result<()> {
    let (outcome, took) = scenario::stalled_connect(&Threads)?;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(outcome, Outcome::ConnectTimeout);
    Ok(())
}

/// Connections idle for 3 × `check_idle_after`, then a 50 ms server restart: checkout
/// peeks them although maintenance checked them moments before the restart (this suite
/// found that it did not; fixed in netpool-core 7ad9548).
#[test]
fn idle_bounce_hands_out_no_dead_connection() -> io::Result<()> {
    let mut settings = Settings::issue();
    settings.check_idle_after = Some(Duration::from_millis(300));
    let idle = Duration::from_millis(900);
    let report = scenario::idle_bounce(&Threads, &settings, idle, Duration::from_millis(50))?;
    eprintln!("{report:#?}");
    report.assert_targets();
    Ok(())
}

/// Finding (core): connects to a server that accepts and resets are not backed off
/// (each connect succeeds; the connection dies at its first use and is discarded).
#[test]
fn reset_storm_is_bounded() -> io::Result<()> {
    let report = scenario::reset(&Threads)?;
    eprintln!("{report:#?}");
    report.assert_backoff();
    Ok(())
}

/// Finding (netpool-std): `wait_timeout` is one deadline for the whole get (DESIGN,
/// semantic 0), but a blocking connect cannot be interrupted, so against a stalled server
/// `get_blocking` returns only after the per-attempt `connect_timeout`.
#[test]
fn stalled_connect_respects_wait_timeout() -> io::Result<()> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    proxy.set_mode(Mode::Stall)?;
    let pool = netpool_std::tcp(proxy.addr().to_string())
        .wait_timeout(Some(Duration::from_millis(200)))
        .connect_timeout(Some(Duration::from_secs(2)))
        .build()
        .expect("valid settings");
    let start = Instant::now();
    let result = pool.get_blocking();
    let took = start.elapsed();
    assert!(result.is_err());
    // 200 ms deadline; 500 ms more for a noisy machine.
    assert!(
        took < Duration::from_millis(700),
        "get_blocking took {took:?}"
    );
    Ok(())
}
