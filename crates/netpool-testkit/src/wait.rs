//! [`eventually`]: wait for a condition that nothing signals; [`wait_until`]: for one
//! that a condition variable signals.

use std::sync::{Condvar, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Polls `done` every millisecond until it returns `true` or `timeout` passes; returns
/// whether it did.
///
/// For effects of background work that sends no signal (a pool's maintenance, say).
/// Prefer [`EchoServer::wait_until`](crate::EchoServer::wait_until) for server counts.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// assert!(netpool_testkit::eventually(Duration::from_secs(5), || {
///     start.elapsed() >= Duration::from_millis(5)
/// }));
/// assert!(!netpool_testkit::eventually(Duration::from_millis(5), || false));
/// ```
pub fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Blocks on `changed` until `done` holds for the state behind `state` or `timeout`
/// passes; the guard when it held, `None` after the timeout. Woken by `changed`, not by
/// polling.
pub(crate) fn wait_until<'a, T>(
    mut state: MutexGuard<'a, T>,
    changed: &Condvar,
    timeout: Duration,
    mut done: impl FnMut(&T) -> bool,
) -> Option<MutexGuard<'a, T>> {
    let deadline = Instant::now() + timeout;
    loop {
        if done(&state) {
            return Some(state);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        state = changed
            .wait_timeout(state, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}
