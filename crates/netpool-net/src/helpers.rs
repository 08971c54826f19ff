//! [`timeout`], [`check_alive`] and [`AsSockRef`]: the connect bound, the liveness peek
//! and the way to the socket under any runtime's stream.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use socket2::SockRef;

use crate::NetError;

/// Bounds an I/O future by `limit` with an `async-io` timer, which works under any
/// runtime (a tokio runtime needs no time driver for it).
///
/// # Errors
///
/// The future's error, or `io::ErrorKind::TimedOut` once `limit` passes.
///
/// # Cancel safety
///
/// As cancel safe as `fut`.
pub async fn timeout<T>(
    limit: Option<Duration>,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let Some(limit) = limit else {
        return fut.await;
    };
    let expire = async move {
        async_io::Timer::after(limit).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out after {limit:?}"),
        ))
    };
    futures_lite::future::or(fut, expire).await
}

/// The non-blocking peek behind every `is_valid`: `Ok` when nothing is pending (the peer
/// is there and quiet).
///
/// One `recv` with `MSG_PEEK` (and, on unix, `MSG_DONTWAIT`, so a blocking socket works
/// too), nothing consumed. Elsewhere the socket must be in non-blocking mode (async
/// runtimes' sockets are).
///
/// # Errors
///
/// [`NetError::Closed`] at end of stream, [`NetError::UnexpectedData`] when bytes are
/// pending, [`NetError::Io`] for a reset or any other error.
pub fn check_alive(socket: SockRef<'_>) -> Result<(), NetError> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 1];
    #[cfg(unix)]
    let peeked = socket.recv_with_flags(&mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT);
    #[cfg(not(unix))]
    let peeked = socket.peek(&mut buf);
    match peeked {
        Ok(0) => Err(NetError::Closed),
        Ok(_) => Err(NetError::UnexpectedData),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(NetError::Io(e)),
    }
}

/// A stream with a socket underneath: anything with a file descriptor (a socket handle on
/// Windows), such as every runtime's TCP and Unix streams.
pub trait AsSockRef {
    /// The socket, for `setsockopt` and the liveness peek.
    fn sock_ref(&self) -> SockRef<'_>;
}

#[cfg(unix)]
impl<T: std::os::fd::AsFd> AsSockRef for T {
    fn sock_ref(&self) -> SockRef<'_> {
        SockRef::from(self)
    }
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> AsSockRef for T {
    fn sock_ref(&self) -> SockRef<'_> {
        SockRef::from(self)
    }
}
