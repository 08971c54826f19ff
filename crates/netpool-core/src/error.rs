//! Errors returned by the pool and by the builder.
//!
//! The convention, for every error type in the workspace: the message names its cause
//! (`could not connect: connection refused`), because most loggers print only the top
//! level, and [`source`](std::error::Error::source) still returns the cause, for code
//! that inspects it. A reporter that walks the source chain will print the cause twice;
//! print `{}` alone.

use std::fmt;
use std::sync::Arc;

/// An error returned by [`Pool::get`](crate::Pool::get) and the other ways of checking a
/// connection out.
///
/// `E` is the [`Manager::Error`](crate::Manager::Error) of the pool's manager.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error<E> {
    /// No connection became free before the deadline (`wait_timeout`, or the timeout given
    /// to [`get_timeout`](crate::Pool::get_timeout)); also returned by
    /// [`try_get`](crate::Pool::try_get), which does not wait, when no connection is free
    /// right now. The message is true of both.
    #[error(
        "no connection was free in time (a get waited out its timeout, or try_get found none free)"
    )]
    Timeout,
    /// The pool was closed with [`Pool::close`](crate::Pool::close).
    #[error("the pool is closed")]
    Closed,
    /// This caller tried to open a connection and the manager's `connect` failed, or the
    /// [`on_connect`](crate::Hooks::on_connect) hook rejected the new connection.
    #[error("could not connect: {0}")]
    Connect(#[source] E),
    /// This caller tried to open a connection and `connect` (with the `on_connect` hook)
    /// did not finish before the `connect_timeout` or the caller's own deadline.
    ///
    /// A server that is up and still every connect times out? If the pool's connections
    /// belong to a runtime (tokio's streams, say) and
    /// [`get_blocking`](crate::Pool::get_blocking) was called on a thread that drives that
    /// runtime (inside a task of a current-thread runtime, or in `block_on`), the connect
    /// waits for the very thread that is blocked, and times out. Never call
    /// `get_blocking` there: use `get().await` in async code, and `get_blocking` from
    /// `tokio::task::spawn_blocking` or a plain thread.
    #[error("connecting timed out")]
    ConnectTimeout,
    /// The pool had to open a connection, and connect attempts failed: the one this
    /// caller waited for, or three in a row before it asked. The caller is told instead
    /// of waiting out its timeout, while one probe at a time retries. The source is the
    /// most recent connect failure. Broken or invalid connections never cause it; see
    /// [`Builder::fail_fast`](crate::Builder::fail_fast).
    ///
    /// The message is the same for every caller of one outage (it names the last
    /// failure, not the count, so log tools can group it); the count is in `failures`.
    #[error("the server is unavailable: connect attempts keep failing, the last: {last}")]
    Unavailable {
        /// How many connect attempts in a row have failed (not in the message).
        failures: u32,
        /// The most recent connect failure.
        #[source]
        last: LastConnectError,
    },
}

impl<E> Error<E> {
    /// Returns `true` for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }

    /// Returns `true` for [`Error::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }

    /// Returns `true` for [`Error::Connect`].
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }

    /// Returns `true` for [`Error::ConnectTimeout`].
    pub fn is_connect_timeout(&self) -> bool {
        matches!(self, Self::ConnectTimeout)
    }

    /// Returns `true` for [`Error::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The manager's own error, for [`Error::Connect`].
    pub fn connect_error(&self) -> Option<&E> {
        match self {
            Self::Connect(e) => Some(e),
            _ => None,
        }
    }
}

/// The most recent connect failure, carried by [`Error::Unavailable`].
///
/// The manager's error went to the caller whose connect failed; the pool keeps its message
/// (and the messages of its sources) so that later callers learn why the server is
/// considered unavailable.
#[derive(Clone)]
pub struct LastConnectError {
    message: Arc<str>,
}

impl LastConnectError {
    pub(crate) fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            // A message that already names its cause (this workspace's convention) is not
            // repeated.
            let text = s.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        Self {
            message: message.into(),
        }
    }

    pub(crate) fn connect_timeout() -> Self {
        Self {
            message: "connecting timed out".into(),
        }
    }

    /// The failure's message, with the messages of its sources joined by `": "`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for LastConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LastConnectError")
            .field(&&*self.message)
            .finish()
    }
}

impl fmt::Display for LastConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LastConnectError {}

/// An invalid setting given to the [`Builder`](crate::Builder).
///
/// [`BuildError::setting`] names the builder method at fault.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// `max_size` was zero.
    #[error("max_size must be at least 1")]
    ZeroMaxSize,
    /// `min_idle` was larger than `max_size`.
    #[error("min_idle ({min_idle}) must not exceed max_size ({max_size})")]
    MinIdleAboveMaxSize {
        /// The `min_idle` given.
        min_idle: usize,
        /// The `max_size` given.
        max_size: usize,
    },
    /// A duration setting was zero; use `None` to turn the setting off (the delays of
    /// `connect_backoff` cannot be off: give at least a millisecond).
    #[error("{setting} must not be zero ({})", zero_advice(setting))]
    ZeroDuration {
        /// The builder method that was given zero.
        setting: &'static str,
    },
    /// A [`KeyedPool`](crate::KeyedPool)'s `max_total` was zero.
    #[error("max_total must be at least 1")]
    ZeroMaxTotal,
    /// The connect backoff's initial delay was larger than its cap.
    #[error("connect_backoff: initial delay {initial:?} exceeds the cap {max:?}")]
    BackoffInverted {
        /// The initial delay given.
        initial: std::time::Duration,
        /// The cap given.
        max: std::time::Duration,
    },
    /// A [`SharedPool`](crate::SharedPool)'s `max_concurrent_per_connection` was zero, or
    /// too large (above [`MAX_CONCURRENT_PER_CONNECTION`](crate::MAX_CONCURRENT_PER_CONNECTION),
    /// or with `max_size` times it beyond what the pool can count).
    #[error(
        "max_concurrent_per_connection must be between 1 and 65536, and max_size times it must fit (got {given})"
    )]
    MaxConcurrentPerConnection {
        /// The `max_concurrent_per_connection` given.
        given: usize,
    },
}

/// What to do instead of a zero duration.
fn zero_advice(setting: &str) -> &'static str {
    match setting {
        "connect_backoff" => "give delays of at least 1 ms; the backoff cannot be turned off",
        _ => "use None to turn it off",
    }
}

impl BuildError {
    /// The name of the builder setting that was invalid.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::ZeroMaxSize => "max_size",
            Self::MinIdleAboveMaxSize { .. } => "min_idle",
            Self::ZeroDuration { setting } => setting,
            Self::BackoffInverted { .. } => "connect_backoff",
            Self::ZeroMaxTotal => "max_total",
            Self::MaxConcurrentPerConnection { .. } => "max_concurrent_per_connection",
        }
    }
}
