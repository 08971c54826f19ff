//! What the `tcp` and `tls` benches share: a loopback echo server, the client's connect
//! and one request/response.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes per request (and per reply).
pub(crate) const MSG: usize = 32;

/// Starts an echo server on a loopback port, on its own one-thread runtime in a thread
/// named `name`: `accept` turns each accepted TCP stream into the stream it echoes on
/// (`None` closes it).
pub(crate) fn echo_server<F, Fut, S>(name: &str, accept: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = Option<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let accepted = accept(stream);
                    tokio::spawn(async move {
                        if let Some(mut stream) = accepted.await {
                            echo(&mut stream).await;
                        }
                    });
                }
            });
        })
        .expect("server thread");
    rx.recv().expect("server address")
}

/// Writes back what it reads, flushing each reply, until the peer closes or fails.
async fn echo(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() || stream.flush().await.is_err() {
            break;
        }
    }
}

/// A TCP connection to `addr`, with `TCP_NODELAY` (as the pools' managers set it).
pub(crate) async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One request and its echo (the flush is the stream contract: TLS may buffer).
pub(crate) async fn round_trip(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) {
    let request = [7u8; MSG];
    let mut reply = [0u8; MSG];
    stream.write_all(&request).await.expect("write");
    stream.flush().await.expect("flush");
    stream.read_exact(&mut reply).await.expect("read");
}

/// Benchmarks the echo group `$group` and compares it interleaved (`$trips` round trips
/// a run, `$rounds` rounds; see [`run_group`](crate::common::run_group)): first
/// `$first`, a run of its own (`$run`, at `$size` x `$size`), then each pool with
/// `$size` and `$tasks` tasks doing round trips through it. The ratios are to `$first`
/// and to deadpool.
#[allow(unused_macros, reason = "only the echo benches use it")]
macro_rules! echo_group {
    ($c:expr, $rt:expr, $group:literal, $size:expr, $tasks:expr, $trips:expr, $rounds:expr;
     $first:literal => $run:expr; $($name:literal => $pool:expr),+ $(,)?) => {{
        let mut runs: Vec<$crate::common::Run<'_>> =
            vec![($first, format!("{}x{}", $size, $size), Box::new($run))];
        $crate::common::pool_runs!(runs, $size, [$size, $tasks], |tasks, pool, iters| {
            $crate::common::tasks!($rt, iters, tasks, pool, |pool| {
                let mut conn = pool.get().await.expect("connection");
                $crate::common::echo::round_trip(&mut *conn).await;
            })
        }; $($name => $pool),+);
        let baselines = [$first, "deadpool"];
        $crate::common::run_group($c, $group, &mut runs, &baselines, $trips, $rounds);
    }};
}
#[allow(unused_imports, reason = "only the echo benches use it")]
pub(crate) use echo_group;
