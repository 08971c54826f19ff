//! What the three echo demos share: the command line, the built-in echo server, the
//! progress line and the report (requests/s, latency percentiles, the pool's stats).
//!
//! Each demo (`echo`, `echo_smol`, `echo_std`) only runs its clients on its own runtime:
//!
//! ```text
//! cargo run --release --example echo -- [--clients 64] [--pool 16] [--duration 5] [--size 64] [--addr HOST:PORT]
//! cargo run --release --example echo -- --tls   # the same over TLS, with a built-in TLS echo server
//! ```

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netpool_core::{Manager, Pool, Pooled, Stats};
use netpool_testkit::{EchoServer, TlsEchoServer};
use netpool_tokio::rustls::ClientConfig;

/// The demos' command-line options.
#[derive(Debug, Clone)]
pub struct Args {
    /// Concurrent clients (tasks or threads).
    pub clients: usize,
    /// The pool's `max_size`.
    pub pool: usize,
    /// How long the clients run.
    pub duration: Duration,
    /// Bytes per request.
    pub size: usize,
    /// An external echo server to use instead of the built-in one.
    pub addr: Option<String>,
    /// `--log`: print the pool's events (as `RUST_LOG=netpool=debug` does).
    pub log: bool,
    /// TLS, with a built-in TLS echo server.
    pub tls: bool,
}

/// A running demo: the server (unless external), the clock and the request count.
#[derive(Debug)]
pub struct Demo {
    /// The options.
    pub args: Args,
    /// The echo server's address.
    pub addr: String,
    server: Option<Server>,
    started: Instant,
    requests: AtomicU64,
    errors: AtomicU64,
    first_error: OnceLock<String>,
}

/// The built-in server.
#[derive(Debug)]
enum Server {
    Tcp(EchoServer),
    Tls(TlsEchoServer),
}

/// One client's latencies, merged into the report at the end.
#[derive(Debug, Default)]
pub struct Latencies {
    nanos: Vec<u64>,
}

/// Why the command line was rejected.
#[derive(Debug)]
pub struct UsageError(String);

impl Args {
    /// Parses `std::env::args()`; `demo` names the example in the usage text.
    ///
    /// # Errors
    ///
    /// A [`UsageError`] with the usage text, for `--help` or a bad option.
    pub fn from_env(demo: &str) -> Result<Self, UsageError> {
        Self::parse(demo, std::env::args().skip(1))
    }

    /// Parses options.
    ///
    /// # Errors
    ///
    /// A [`UsageError`] with the usage text, for `--help` or a bad option.
    pub fn parse(demo: &str, args: impl IntoIterator<Item = String>) -> Result<Self, UsageError> {
        let mut parsed = Self {
            clients: 64,
            pool: 16,
            duration: Duration::from_secs(5),
            size: 64,
            addr: None,
            log: false,
            tls: false,
        };
        let usage = |problem: &str| {
            UsageError(format!(
                "{problem}usage: cargo run --release --example {demo} -- [--clients N] \
                 [--pool N] [--duration SECONDS] [--size BYTES] [--addr HOST:PORT | --tls] [--log]\n\
                 defaults: 64 clients, a pool of 16, 5 s, 64-byte messages, a built-in \
                 echo server on 127.0.0.1 (--tls: a built-in TLS echo server)"
            ))
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(usage(""));
            }
            if flag == "--log" {
                parsed.log = true;
                continue;
            }
            if flag == "--tls" {
                parsed.tls = true;
                continue;
            }
            let Some(value) = args.next() else {
                return Err(usage(&format!("{flag} needs a value\n")));
            };
            let bad = || usage(&format!("bad value for {flag}: {value:?}\n"));
            match flag.as_str() {
                "--clients" => parsed.clients = value.parse().map_err(|_| bad())?,
                "--pool" => parsed.pool = value.parse().map_err(|_| bad())?,
                "--size" => parsed.size = value.parse().map_err(|_| bad())?,
                "--duration" => {
                    let secs: f64 = value.parse().map_err(|_| bad())?;
                    parsed.duration = Duration::try_from_secs_f64(secs).map_err(|_| bad())?;
                }
                "--addr" => parsed.addr = Some(value),
                _ => return Err(usage(&format!("unknown option {flag}\n"))),
            }
        }
        if parsed.tls && parsed.addr.is_some() {
            return Err(usage(
                "--tls runs the built-in TLS server (not with --addr)\n",
            ));
        }
        if parsed.clients == 0 || parsed.size == 0 {
            return Err(usage("--clients and --size must be at least 1\n"));
        }
        Ok(parsed)
    }
}

impl Demo {
    /// Starts the built-in echo server unless `--addr` was given, and prints what runs.
    ///
    /// # Errors
    ///
    /// The server's bind error.
    pub fn start(args: Args, runtime: &str) -> std::io::Result<Self> {
        let (server, addr) = match &args.addr {
            Some(addr) => (None, addr.clone()),
            None if args.tls => {
                let server = TlsEchoServer::start()?;
                let addr = server.addr().to_string();
                (Some(Server::Tls(server)), addr)
            }
            None => {
                let server = EchoServer::start()?;
                let addr = server.addr().to_string();
                (Some(Server::Tcp(server)), addr)
            }
        };
        println!(
            "echo{} on {runtime}: {} clients, pool of {}, {:?}, {}-byte messages, server {addr}{}",
            if args.tls { " over TLS" } else { "" },
            args.clients,
            args.pool,
            args.duration,
            args.size,
            if server.is_some() { " (built-in)" } else { "" },
        );
        Ok(Self {
            args,
            addr,
            server,
            started: Instant::now(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: OnceLock::new(),
        })
    }

    /// With `--tls`: a client configuration that trusts the built-in server's certificate.
    pub fn tls_config(&self) -> Option<Arc<ClientConfig>> {
        match &self.server {
            Some(Server::Tls(server)) => Some(server.client_config()),
            _ => None,
        }
    }

    /// The message every request sends.
    pub fn message(&self) -> Vec<u8> {
        (0..self.args.size).map(|i| b'a' + (i % 26) as u8).collect()
    }

    /// Whether the clients should keep going.
    pub fn running(&self) -> bool {
        self.started.elapsed() < self.args.duration
    }

    /// Records one request that started at `start`: its latency on success, else an error
    /// (the first one is kept for the report). Returns whether it succeeded: a client that
    /// failed should pause a little before it tries again.
    pub fn record(
        &self,
        latencies: &mut Latencies,
        start: Instant,
        result: Result<(), BoxError>,
    ) -> bool {
        match result {
            Ok(()) => {
                latencies.nanos.push(start.elapsed().as_nanos() as u64);
                self.requests.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.first_error.get_or_init(|| e.to_string());
                false
            }
        }
    }

    /// One client on an async runtime: sends `request`s until the run is over, waiting
    /// for `pause()` after a failure (the server is down, say); returns its latencies.
    pub async fn client<P: Future>(
        &self,
        mut request: impl Request,
        pause: impl Fn() -> P,
    ) -> Latencies {
        let msg = self.message();
        let mut reply = vec![0; msg.len()];
        let mut latencies = Latencies::default();
        while self.running() {
            let start = Instant::now();
            let result = request.send(&msg, &mut reply).await;
            if !self.record(&mut latencies, start, result) {
                pause().await;
            }
        }
        latencies
    }

    /// [`client`](Self::client) on a thread of its own: `request` (the message, a buffer
    /// for the echo) blocks, and the pause after a failure sleeps the thread.
    pub fn client_blocking(
        &self,
        request: impl FnMut(&[u8], &mut [u8]) -> Result<(), BoxError> + Send,
    ) -> Latencies {
        let pause = || async { std::thread::sleep(PAUSE) };
        futures_lite::future::block_on(self.client(Blocking(request), pause))
    }

    /// [`progress`](Self::progress) with `pool`'s stats.
    pub fn watch<M: Manager>(demo: &Arc<Self>, pool: &Pool<M>) -> JoinHandle<()> {
        let pool = pool.clone();
        Self::progress(demo, move || pool.stats())
    }

    /// Prints a progress line every second until the run is over, on a thread of its own.
    pub fn progress(
        demo: &std::sync::Arc<Self>,
        stats: impl Fn() -> Stats + Send + 'static,
    ) -> JoinHandle<()> {
        let demo = demo.clone();
        std::thread::spawn(move || {
            let mut last = 0;
            let seconds = demo.args.duration.as_secs();
            for s in 1..=seconds {
                let wake = demo.started + Duration::from_secs(s);
                std::thread::sleep(wake.saturating_duration_since(Instant::now()));
                let now = demo.requests.load(Ordering::Relaxed);
                let st = stats();
                println!(
                    "[{s:>3}s] {:>8} req/s  connections {:>3} (idle {:>3})  waiting {:>4}  errors {}",
                    now - last,
                    st.connections,
                    st.idle,
                    st.waiting,
                    demo.errors.load(Ordering::Relaxed),
                );
                last = now;
            }
        })
    }

    /// Prints the report: requests/s, latency percentiles, the pool's stats and, with the
    /// built-in server, how many connections it accepted.
    pub fn report(&self, latencies: Vec<Latencies>, stats: &Stats) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut all: Vec<u64> = latencies.into_iter().flat_map(|l| l.nanos).collect();
        all.sort_unstable();
        let total = all.len();
        let pct = |p: f64| {
            let i = ((total as f64 * p).ceil() as usize).clamp(1, total.max(1)) - 1;
            Micros(all.get(i).copied().unwrap_or(0))
        };
        println!(
            "\n{total} requests in {elapsed:.2} s = {:.0} req/s, {} errors",
            total as f64 / elapsed,
            self.errors.load(Ordering::Relaxed),
        );
        println!(
            "latency (get + round trip): p50 {}  p99 {}  p99.9 {}  max {}",
            pct(0.5),
            pct(0.99),
            pct(0.999),
            pct(1.0),
        );
        if let Some(e) = self.first_error.get() {
            println!("first error: {e}");
        }
        match &self.server {
            Some(Server::Tcp(server)) => {
                println!("server accepted {} connections", server.accepted());
            }
            Some(Server::Tls(server)) => {
                let counts = server.counts();
                println!(
                    "server accepted {} connections, {} TLS handshakes",
                    counts.accepted, counts.handshakes
                );
            }
            None => {}
        }
        println!("{stats:#?}");
    }
}

/// One request of an echo client.
pub trait Request: Send {
    /// Sends `msg` and reads its echo into `reply`.
    fn send(
        &mut self,
        msg: &[u8],
        reply: &mut [u8],
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// A [`Request`] that blocks.
struct Blocking<F>(F);

impl<F: FnMut(&[u8], &mut [u8]) -> Result<(), BoxError> + Send> Request for Blocking<F> {
    async fn send(&mut self, msg: &[u8], reply: &mut [u8]) -> Result<(), BoxError> {
        (self.0)(msg, reply)
    }
}

/// Defines `$name`, a pool whose connections are streams of the I/O traits in `$io`, as a
/// [`Request`]: a connection from the pool, the message out (flushed: the stream
/// contract, as TLS may buffer) and its echo back. A failed exchange leaves the stream
/// out of sync, so the connection is discarded ([`settle`]).
macro_rules! echo_request {
    ($(#[$doc:meta])* $name:ident, $($io:ident)::+) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<M: Manager>(pub Pool<M>);

        impl<M> Request for $name<M>
        where
            M: Manager,
            M::Connection: $($io::)+AsyncRead + $($io::)+AsyncWrite + Unpin,
        {
            async fn send(&mut self, msg: &[u8], reply: &mut [u8]) -> Result<(), BoxError> {
                use $($io::)+{AsyncReadExt as _, AsyncWriteExt as _};
                let mut conn = self.0.get().await?;
                let result = async {
                    conn.write_all(msg).await?;
                    conn.flush().await?;
                    conn.read_exact(reply).await?;
                    Ok(())
                }
                .await;
                settle(conn, result)
            }
        }
    };
}

echo_request!(
    /// A pool of tokio streams (netpool-tokio's) as a [`Request`].
    TokioEcho,
    tokio::io
);
echo_request!(
    /// A pool of futures-io streams (netpool-smol's) as a [`Request`].
    SmolEcho,
    futures_lite::io
);

/// How long a client pauses after a failed request (the server is down, say).
pub const PAUSE: Duration = Duration::from_millis(10);

/// Any request's error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The end of one request on `conn`: `result` is its exchange. A failed exchange leaves
/// the stream out of sync, so `conn` is discarded (closed, not returned).
///
/// # Errors
///
/// The exchange's error.
pub fn settle<M: Manager>(conn: Pooled<M>, result: std::io::Result<()>) -> Result<(), BoxError> {
    if let Err(e) = result {
        Pooled::discard(conn);
        return Err(e.into());
    }
    Ok(())
}

/// The value of `result`, or exits with its error printed (netpool's messages name their
/// cause, so the source chain would only repeat it).
pub fn or_exit<T, E: std::error::Error>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    })
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Nanoseconds shown in µs or ms.
struct Micros(u64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0 as f64 / 1000.0;
        if us < 1000.0 {
            write!(f, "{us:.0} µs")
        } else {
            write!(f, "{:.2} ms", us / 1000.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, UsageError> {
        Args::parse("echo", s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_options() {
        let a = args("--clients 8 --pool 2 --duration 0.5 --addr 127.0.0.1:7").unwrap();
        assert_eq!((a.clients, a.pool, a.size), (8, 2, 64));
        assert_eq!(a.duration, Duration::from_millis(500));
        assert_eq!(a.addr.as_deref(), Some("127.0.0.1:7"));
        assert!(args("--clients").is_err());
        assert!(args("--clients x").is_err());
        assert!(args("--bogus 1").is_err());
        assert!(args("--help").unwrap_err().to_string().contains("usage"));
        assert!(args("--tls --clients 2").unwrap().tls);
        assert!(args("--tls --addr 127.0.0.1:7").is_err());
        assert!(Args::parse("echo_std", ["--tls".to_owned()]).unwrap().tls);
    }
}
