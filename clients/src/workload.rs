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

use crate::resp::{Client, RespError};

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
