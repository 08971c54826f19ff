//! What the client examples (`redis_tokio`, `resp_tokio`, `resp_smol`, `postgres_tokio`)
//! share: the command line, the timed workload on tokio or smol, the report, and the
//! RESP examples' unit of work.
//!
//! ```text
//! cargo run --release -p netpool-clients --example <name> -- [tasks] [max_size] [seconds]
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use netpool_core::{Manager, Pool, Pooled, Stats};

use crate::redis::redis_url;
use crate::resp::{Client, RespError, RespStream, SmolManager, TokioManager, addr_from_url};

/// The examples' command line: `[tasks] [max_size] [seconds]`.
#[derive(Debug, Clone, Copy)]
pub struct Cli {
    /// Concurrent tasks (default 64).
    pub tasks: u64,
    /// The pool's `max_size` (default 16).
    pub max_size: usize,
    /// How long each workload runs, in seconds (default 2).
    pub seconds: u64,
}

impl Cli {
    /// Reads `std::env::args()`; a missing or unreadable argument takes its default.
    pub fn from_env() -> Self {
        let arg = |n: usize, default: u64| {
            std::env::args()
                .nth(n)
                .and_then(|a| a.parse().ok())
                .unwrap_or(default)
        };
        Self {
            tasks: arg(1, 64),
            max_size: arg(2, 16) as usize,
            seconds: arg(3, 2),
        }
    }

    /// How long each workload runs.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

/// The runtime the workload's tasks run on.
#[derive(Debug, Clone, Copy)]
pub enum Runtime {
    /// `tokio::spawn`, inside a tokio runtime.
    Tokio,
    /// `smol::spawn`: smol's global executor (`SMOL_THREADS` threads, default 1).
    Smol,
}

/// A workload task, boxed so that one [`run`] serves both runtimes.
type Task = Pin<Box<dyn Future<Output = Tally> + Send>>;

impl Runtime {
    fn spawn(self, task: Task) -> Task {
        match self {
            Self::Tokio => {
                let handle = tokio::spawn(task);
                Box::pin(async move { handle.await.expect("workload tasks do not panic") })
            }
            Self::Smol => Box::pin(smol::spawn(task)),
        }
    }

    /// Waits for `duration` on this runtime's timer.
    pub async fn sleep(self, duration: Duration) {
        match self {
            Self::Tokio => tokio::time::sleep(duration).await,
            Self::Smol => {
                smol::Timer::after(duration).await;
            }
        }
    }
}

/// What the report calls one [`set_get`].
const COMMANDS: &str = "commands (SET+GET)";

/// How long the RESP examples' pools let a task wait for a connection.
const WAIT: Option<Duration> = Some(Duration::from_secs(5));

/// The RESP examples (`resp_tokio`, `resp_smol`) on `rt`: the [`set_get`] workload twice,
/// to show the two ways a custom protocol sits on netpool, each with its report:
///
/// 1. through a manager whose connection *is* the protocol client
///    ([`TokioManager`], [`SmolManager`]: they check connections with `PING` and know
///    when the client broke);
/// 2. through the adapter's plain TCP pool (`netpool_tokio::tcp`, `netpool_smol::tcp`),
///    the client borrowing the pooled stream for each exchange ([`RespStream`]; the
///    adapter checks idle streams with a non-blocking peek).
///
/// Then it deletes the keys. The server is [`redis_url`]'s.
///
/// # Errors
///
/// If a pool cannot be built, the server does not answer, or an operation failed.
pub async fn resp_example(rt: Runtime) -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::from_env();
    let addr = addr_from_url(&redis_url());
    let name = match rt {
        Runtime::Tokio => "tokio",
        Runtime::Smol => "smol",
    };
    let prefix = format!("netpool:example:resp_{name}:{}", std::process::id());
    let example = Example {
        rt,
        cli,
        prefix,
        name,
    };
    // The TCP pools are built once the first workload is done.
    let failed = match rt {
        Runtime::Tokio => {
            let failed = example
                .pooled(TokioManager::new(&addr), "TokioManager")
                .await?;
            let tcp = netpool_tokio::tcp(addr).max_size(cli.max_size);
            failed + example.borrowed(tcp.wait_timeout(WAIT).build()?).await?
        }
        Runtime::Smol => {
            let failed = example
                .pooled(SmolManager::new(&addr), "SmolManager")
                .await?;
            let tcp = netpool_smol::tcp(addr).max_size(cli.max_size);
            failed + example.borrowed(tcp.wait_timeout(WAIT).build()?).await?
        }
    };
    all_succeeded(failed)
}

/// One run of [`resp_example`].
struct Example {
    rt: Runtime,
    cli: Cli,
    /// The keys' prefix (each task adds its number).
    prefix: String,
    /// The runtime's name.
    name: &'static str,
}

impl Example {
    /// The workload through a pool of `manager`'s protocol clients; returns the failed
    /// operations.
    async fn pooled<M, S>(&self, manager: M, what: &str) -> Result<u64, Box<dyn std::error::Error>>
    where
        M: Manager<Connection = Client<S>, Error = RespError>,
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let pool = Pool::builder()
            .max_size(self.cli.max_size)
            .wait_timeout(WAIT)
            .build(manager)?;
        pool.get().await?.ping().await?; // fail early if the server is not there
        let key = self.prefix.clone();
        let wait = self.rt.sleep(self.cli.duration());
        let tally = run(self.rt, &pool, &self.cli, wait, move |mut conn, t, n| {
            let key = format!("{key}:{t}");
            async move {
                let result = set_get(&mut conn, &key, n).await;
                settle(conn, result)
            }
        })
        .await;
        let title = format!("resp_{} (resp::{what})", self.name);
        tally.report(&title, COMMANDS, &self.cli, &pool.stats());
        Ok(tally.errors)
    }

    /// The workload through an adapter's TCP `pool`, a client borrowing each pooled
    /// stream; then the keys' deletion. Returns the failed operations.
    async fn borrowed<M>(&self, pool: Pool<M>) -> Result<u64, Box<dyn std::error::Error>>
    where
        M: Manager<Connection: RespStream>,
    {
        let key = self.prefix.clone();
        let wait = self.rt.sleep(self.cli.duration());
        let tally = run(self.rt, &pool, &self.cli, wait, move |mut conn, t, n| {
            let key = format!("{key}:{t}");
            async move {
                let result = set_get(&mut Client::new(conn.stream()), &key, n).await;
                settle(conn, result)
            }
        })
        .await;
        let title = format!("resp_{0} (netpool_{0}::tcp)", self.name);
        tally.report(&title, COMMANDS, &self.cli, &pool.stats());

        let mut conn = pool.get().await?;
        let mut client = Client::new(conn.stream());
        for t in 0..self.cli.tasks {
            let key = format!("{}:{t}", self.prefix);
            client.command(&[b"DEL", key.as_bytes()]).await?;
        }
        Ok(tally.errors)
    }
}

/// What a workload did.
#[derive(Debug, Clone, Copy)]
pub struct Tally {
    /// Commands that succeeded.
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// How long the workload ran.
    pub elapsed: Duration,
}

/// Runs `cli.tasks` tasks on `rt` until `wait` finishes. Each task gets a connection from
/// `pool` and calls `op(connection, task, n)` for n = 1, 2, …; `op` answers the number of
/// commands it ran, or `None` if the operation failed (having discarded the connection if
/// it may be unusable).
pub async fn run<M, F, Fut>(
    rt: Runtime,
    pool: &Pool<M>,
    cli: &Cli,
    wait: impl Future<Output = ()>,
    op: F,
) -> Tally
where
    M: Manager,
    F: Fn(Pooled<M>, u64, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<u64>> + Send + 'static,
{
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let op = Arc::new(op);
    let handles: Vec<_> = (0..cli.tasks)
        .map(|t| {
            let (pool, stop, op) = (pool.clone(), stop.clone(), op.clone());
            rt.spawn(Box::pin(async move {
                let (mut ops, mut errors, mut n) = (0, 0, 0);
                while !stop.load(Ordering::Relaxed) {
                    let conn = pool.get().await.expect("the pool serves every task");
                    n += 1;
                    match op(conn, t, n).await {
                        Some(commands) => ops += commands,
                        None => errors += 1,
                    }
                }
                Tally {
                    ops,
                    errors,
                    elapsed: Duration::ZERO,
                }
            }))
        })
        .collect();
    wait.await;
    stop.store(true, Ordering::Relaxed);
    let (mut ops, mut errors) = (0, 0);
    for h in handles {
        let tally = h.await;
        ops += tally.ops;
        errors += tally.errors;
    }
    Tally {
        ops,
        errors,
        elapsed: started.elapsed(),
    }
}

impl Tally {
    /// Prints the rate (`{what}: … {ops} {commands} in … s = … ops/s, … errors`) and
    /// `stats`.
    pub fn report(&self, what: &str, commands: &str, cli: &Cli, stats: &Stats) {
        let elapsed = self.elapsed.as_secs_f64();
        println!(
            "{what}: {} tasks, pool of {}: {} {commands} in {elapsed:.2} s = {:.0} ops/s, \
             {} errors",
            cli.tasks,
            cli.max_size,
            self.ops,
            self.ops as f64 / elapsed,
            self.errors,
        );
        println!("{stats:#?}");
    }
}

/// `Ok` if no operation failed, so that an example exits non-zero (and CI fails) if one
/// did.
pub fn all_succeeded(failed: u64) -> Result<(), Box<dyn std::error::Error>> {
    if failed > 0 {
        return Err(format!("{failed} operations failed").into());
    }
    Ok(())
}

/// The RESP examples' unit of work on `client`: SET `key` to `n`, GET it back.
pub async fn set_get<S>(client: &mut Client<S>, key: &str, n: u64) -> Result<(), RespError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let value = n.to_string();
    client.set(key.as_bytes(), value.as_bytes()).await?;
    let got = client.get(key.as_bytes()).await?;
    assert_eq!(
        got.as_deref(),
        Some(value.as_bytes()),
        "read back what was written"
    );
    Ok(())
}

/// What [`run`] needs from a [`set_get`] on `conn`: its two commands, or `None` after an
/// error, which it prints. A fatal error discards `conn`: its stream is out of sync or
/// gone, which an adapter's TCP pool cannot know (a RESP manager's `has_broken` would,
/// but the discard says it at once).
pub fn settle<M: Manager>(conn: Pooled<M>, result: Result<(), RespError>) -> Option<u64> {
    match result {
        Ok(()) => Some(2),
        Err(e) => {
            eprintln!("{e}");
            if e.is_fatal() {
                Pooled::discard(conn);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failure_is_an_error() {
        assert!(all_succeeded(0).is_ok());
        let err = all_succeeded(3).expect_err("3 failures");
        assert_eq!(err.to_string(), "3 operations failed");
    }
}
