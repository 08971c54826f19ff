//! [`eventually`]: wait for a condition that nothing signals.

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
