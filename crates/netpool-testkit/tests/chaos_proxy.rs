//! The chaos proxy's modes, seen by a plain `std::net::TcpStream`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use netpool_testkit::EchoServer;
use netpool_testkit::chaos::{ChaosProxy, Mode};

/// Bound on every wait in these tests; they normally take milliseconds.
const LIMIT: Duration = Duration::from_secs(5);

fn echo(conn: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    conn.set_read_timeout(Some(LIMIT))?;
    conn.write_all(msg)?;
    let mut reply = vec![0; msg.len()];
    conn.read_exact(&mut reply)?;
    assert_eq!(reply, msg);
    Ok(())
}

#[test]
fn pass_counts_and_peak() -> io::Result<()> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    let mut conns = (0..3)
        .map(|_| TcpStream::connect(proxy.addr()))
        .collect::<io::Result<Vec<_>>>()?;
    for conn in &mut conns {
        echo(conn, b"x")?;
    }
    assert!(proxy.wait_until(LIMIT, |c| c.accepted == 3 && c.live == 3 && c.peak == 3));
    drop(conns);
    assert!(proxy.wait_until(LIMIT, |c| c.live == 0));
    assert_eq!(proxy.peak(), 3);
    proxy.reset_peak();
    assert_eq!(proxy.peak(), 0);
    Ok(())
}

#[test]
fn reset_mode_resets_after_the_connect() -> io::Result<()> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    proxy.set_mode(Mode::Reset)?;
    let mut conn = TcpStream::connect(proxy.addr())?; // the kernel's handshake succeeds
    assert!(proxy.wait_until(LIMIT, |c| c.accepted == 1));
    let err = echo(&mut conn, b"x").expect_err("a reset connection");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    assert_eq!(proxy.live(), 0);
    Ok(())
}

#[test]
fn blackhole_never_answers_until_cut() -> io::Result<()> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    proxy.set_mode(Mode::Blackhole)?;
    let mut conn = TcpStream::connect(proxy.addr())?;
    conn.write_all(b"anyone?")?;
    conn.set_read_timeout(Some(Duration::from_millis(100)))?;
    let err = conn.read(&mut [0; 8]).expect_err("no answer");
    assert!(matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ));
    assert_eq!((proxy.live(), server.accepted()), (1, 0));
    assert_eq!(proxy.cut_all(), 1);
    conn.set_read_timeout(Some(LIMIT))?;
    assert_eq!(conn.read(&mut [0; 8])?, 0);
    Ok(())
}

#[test]
fn stall_times_connects_out_and_comes_back() -> io::Result<()> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    proxy.set_mode(Mode::Stall)?;
    let err = TcpStream::connect_timeout(&proxy.addr(), Duration::from_millis(100))
        .expect_err("a stalled connect");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(proxy.accepted(), 0);
    proxy.set_mode(Mode::Pass)?;
    echo(&mut TcpStream::connect(proxy.addr())?, b"back")?;
    Ok(())
}

#[test]
fn refuse_then_pass() -> io::Result<()> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    proxy.set_mode(Mode::Refuse)?;
    let err = TcpStream::connect(proxy.addr()).expect_err("refused");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    proxy.set_mode(Mode::Pass)?;
    echo(&mut TcpStream::connect(proxy.addr())?, b"back")?;
    assert_eq!(proxy.accepted(), 1, "the wake-up connects are not counted");
    Ok(())
}

#[test]
fn delay_and_reply_delay_slow_the_answer() -> io::Result<()> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    proxy.set_mode(Mode::Delay(Duration::from_millis(100)))?;
    let start = Instant::now();
    echo(&mut TcpStream::connect(proxy.addr())?, b"slow")?;
    assert!(start.elapsed() >= Duration::from_millis(100));

    proxy.set_mode(Mode::Pass)?;
    proxy.set_reply_delay(Duration::from_millis(50));
    let mut conn = TcpStream::connect(proxy.addr())?;
    let start = Instant::now();
    echo(&mut conn, b"slow")?;
    assert!(start.elapsed() >= Duration::from_millis(50));
    Ok(())
}
