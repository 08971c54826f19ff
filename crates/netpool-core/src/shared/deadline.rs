//! Deadlines of waits: the caller's [`Deadline`], and [`run_until`] to bound a future by
//! one (on async-io's timer; under loom a deadline never passes).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::clock::{self, Nanos};

/// Why a wait ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitError {
    Timeout,
    Closed,
}

/// One `get`'s deadline, computed the first time it is needed (the fast path never reads
/// the clock), on the precise clock ([`clock::precise_now`]).
#[derive(Debug)]
pub(crate) struct Deadline {
    timeout: Option<Duration>,
    at: Option<Option<Nanos>>,
    /// Driven by `get_blocking`: its thread may be the one that drives the runtime the
    /// connect needs, so a connect that times out there is no evidence about the server.
    pub(crate) blocking: bool,
}

impl Deadline {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Self {
            timeout,
            at: None,
            blocking: false,
        }
    }

    /// A deadline for a blocking get.
    pub(crate) fn blocking(timeout: Option<Duration>) -> Self {
        Self {
            blocking: true,
            ..Self::new(timeout)
        }
    }

    /// How long since the deadline was first needed (about when the `get` began to wait or
    /// connect); zero if it never was.
    pub(crate) fn waited(&self) -> Duration {
        match (self.timeout, self.at) {
            (Some(timeout), Some(Some(at))) => {
                let left = at.saturating_sub(clock::precise_now());
                timeout.saturating_sub(Duration::from_nanos(left))
            }
            _ => Duration::ZERO,
        }
    }

    /// The instant the `get` gives up, `None` for never.
    pub(crate) fn at(&mut self) -> Option<Instant> {
        self.at_read().0.map(clock::precise_instant)
    }

    /// When the `get` gives up, on the precise clock (`None` for never).
    pub(crate) fn at_nanos(&mut self) -> Option<Nanos> {
        self.at_read().0
    }

    /// When the `get` gives up on the precise clock (`None` for never), and the clock
    /// reading it was computed from if it was computed by this call (so the caller need
    /// not read the clock again).
    pub(crate) fn at_read(&mut self) -> (Option<Nanos>, Option<Nanos>) {
        if let Some(at) = self.at {
            return (at, None);
        }
        let Some(timeout) = self.timeout else {
            self.at = Some(None);
            return (None, None);
        };
        let now = clock::precise_now();
        // Past the clock's range: never.
        let at = now.checked_add(clock::nanos(timeout));
        self.at = Some(at);
        (at, Some(now))
    }
}

/// Runs `fut` until `at`; `None` if the deadline came first.
pub(crate) async fn run_until<F: Future>(at: Option<Instant>, fut: F) -> Option<F::Output> {
    match at {
        None => Some(fut.await),
        Some(at) => {
            futures_lite::future::or(async { Some(fut.await) }, async {
                sleep_until(at).await;
                None
            })
            .await
        }
    }
}

/// Resolves at `at`, on async-io's timer thread.
#[cfg(not(loom))]
async fn sleep_until(at: Instant) {
    async_io::Timer::at(at).await;
}

/// Loom models use no deadlines: a deadline never passes.
#[cfg(loom)]
async fn sleep_until(_at: Instant) {
    futures_lite::future::pending::<()>().await;
}
