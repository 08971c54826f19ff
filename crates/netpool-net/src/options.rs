//! [`TcpOptions`]: the socket options every TCP manager sets on a new connection.

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// Socket options for new TCP connections, and the timeout of one connect attempt.
///
/// The defaults: `TCP_NODELAY` on, keepalive probes after 60 s idle, every 10 s, 3 of
/// them, 10 s per connect attempt (each resolved address is one attempt), and no
/// `TCP_USER_TIMEOUT` (the operating system's retransmission limit, about 15 minutes on
/// Linux).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use netpool_net::TcpOptions;
///
/// let options = TcpOptions::new()
///     .keepalive(Some(Duration::from_secs(30)))
///     .keepalive_interval(Duration::from_secs(5))
///     .connect_timeout(Some(Duration::from_secs(2)));
/// assert!(options.is_nodelay());
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpOptions {
    nodelay: bool,
    keepalive: Option<Duration>,
    keepalive_interval: Duration,
    keepalive_retries: u32,
    connect_timeout: Option<Duration>,
    user_timeout: Option<Duration>,
}

impl TcpOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `TCP_NODELAY`: send small writes at once instead of batching them (default on).
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// Idle time before the first keepalive probe, or `None` to turn keepalive off
    /// (default 60 s).
    pub fn keepalive(mut self, idle: Option<Duration>) -> Self {
        self.keepalive = idle;
        self
    }

    /// Time between keepalive probes (default 10 s), where the platform supports it.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// Unanswered probes before the connection is dropped (default 3), where the platform
    /// supports it.
    pub fn keepalive_retries(mut self, retries: u32) -> Self {
        self.keepalive_retries = retries;
        self
    }

    /// Bound on one connect attempt, to one resolved address (default 10 s; `None`: the
    /// operating system's own limit). The pool's `connect_timeout` bounds the whole
    /// connect on top, for the async adapters.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets `TCP_USER_TIMEOUT` (Linux, Android and Fuchsia; elsewhere it is not set and
    /// this does nothing): how long data sent may stay unacknowledged before the kernel
    /// drops the connection (default `None`: the kernel's retransmission limit, about
    /// 15 minutes).
    ///
    /// Keepalive finds a dead peer only while the connection is idle; a peer that
    /// vanished (a black-holed route, a server powered off) while a request is
    /// unanswered keeps the writer waiting until the retransmissions give up. With a
    /// user timeout, the read or write then fails with `ETIMEDOUT` after about this long,
    /// and the connection is closed when it comes back. Pick a bound above the slowest
    /// round trip you expect under load (seconds, not milliseconds). Since Linux 2.6.37.
    pub fn user_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.user_timeout = timeout;
        self
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn is_nodelay(&self) -> bool {
        self.nodelay
    }

    /// The bound on one connect attempt.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// Applies the options to a connected socket.
    ///
    /// # Errors
    ///
    /// The error of the first `setsockopt` that failed.
    pub fn apply(&self, socket: SockRef<'_>) -> io::Result<()> {
        socket.set_tcp_nodelay(self.nodelay)?;
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
        if let Some(timeout) = self.user_timeout {
            socket.set_tcp_user_timeout(Some(timeout))?;
        }
        match self.keepalive {
            None => socket.set_keepalive(false),
            Some(idle) => socket.set_tcp_keepalive(&self.tcp_keepalive(idle)),
        }
    }

    fn tcp_keepalive(&self, idle: Duration) -> TcpKeepalive {
        let keepalive = TcpKeepalive::new().with_time(idle);
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "windows",
        ))]
        let keepalive = keepalive
            .with_interval(self.keepalive_interval)
            .with_retries(self.keepalive_retries);
        keepalive
    }
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            nodelay: true,
            keepalive: Some(Duration::from_secs(60)),
            keepalive_interval: Duration::from_secs(10),
            keepalive_retries: 3,
            connect_timeout: Some(Duration::from_secs(10)),
            user_timeout: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_timeout_is_set_only_when_asked() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let limit = Duration::from_millis(2500);
        TcpOptions::new().apply(SockRef::from(&stream)).unwrap();
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
        assert_eq!(SockRef::from(&stream).tcp_user_timeout().unwrap(), None);
        let options = TcpOptions::new().user_timeout(Some(limit));
        options.apply(SockRef::from(&stream)).unwrap();
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
        assert_eq!(
            SockRef::from(&stream).tcp_user_timeout().unwrap(),
            Some(limit)
        );
    }
}
