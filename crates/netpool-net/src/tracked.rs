//! [`Tracked`]: a stream that remembers the first I/O error or end of stream its reads
//! and writes returned, so that a manager can tell, when the connection comes back, that
//! it failed while it was checked out.

use std::io::{self, Read, Write};
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// A stream (the TCP stream under the TLS managers' TLS stream) that records the first
/// failure its reads and writes returned: an I/O error, an end of stream, or a write of
/// zero bytes.
///
/// The TLS managers' `has_broken` reads the record (no syscall) and closes a connection
/// that failed, even when the caller returned it without
/// [`Pooled::discard`](netpool_core::Pooled::discard). `WouldBlock`, `Interrupted` and
/// `TimedOut` (a blocking socket's read timeout) are not failures: the stream may go on.
///
/// It derefs to the stream it wraps, so `tls.get_ref().0.peer_addr()` works as on the
/// plain stream.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use netpool_net::Tracked;
///
/// let mut stream = Tracked::new(&b""[..]); // any Read + Write
/// assert_eq!(stream.failure(), None);
/// assert_eq!(stream.read(&mut [0; 4])?, 0); // an end of stream
/// assert_eq!(stream.failure(), Some(std::io::ErrorKind::UnexpectedEof));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    failure: Option<io::ErrorKind>,
    tag: u64,
}

impl<S> Tracked<S> {
    /// Wraps `inner`, with no failure recorded.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            failure: None,
            tag: 0,
        }
    }

    /// Stamps a number on the stream: the TLS managers stamp the generation of the
    /// `ClientConfig` it was opened with (see `TlsManager::is_current`).
    pub fn with_tag(mut self, tag: u64) -> Self {
        self.tag = tag;
        self
    }

    /// The number stamped with [`with_tag`](Self::with_tag) (0 if none).
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The first failure seen: the error's kind, `UnexpectedEof` for an end of stream,
    /// `WriteZero` for a write that took nothing.
    pub fn failure(&self) -> Option<io::ErrorKind> {
        self.failure
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The stream inside. Reads and writes made on it directly are not tracked.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Records a failure (the first one is kept).
    pub fn record(&mut self, kind: io::ErrorKind) {
        self.failure.get_or_insert(kind);
    }

    /// Records the error of `result`, if it is a failure.
    fn track<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            if is_failure(e.kind()) {
                self.record(e.kind());
            }
        }
        result
    }

    /// Records a read of 0 bytes into a buffer of `asked` as an end of stream.
    fn track_read(&mut self, n: usize, asked: usize) {
        if n == 0 && asked > 0 {
            self.record(io::ErrorKind::UnexpectedEof);
        }
    }

    /// Records a write of 0 bytes from a buffer of `asked`.
    fn track_write(&mut self, n: usize, asked: usize) {
        if n == 0 && asked > 0 {
            self.record(io::ErrorKind::WriteZero);
        }
    }
}

/// Whether an error of this kind means the stream is done for.
fn is_failure(kind: io::ErrorKind) -> bool {
    !matches!(
        kind,
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted | io::ErrorKind::TimedOut
    )
}

impl<S> Deref for Tracked<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.inner
    }
}

impl<S> DerefMut for Tracked<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: Read> Read for Tracked<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf);
        let n = self.track(read)?;
        self.track_read(n, buf.len());
        Ok(n)
    }
}

impl<S: Write> Write for Tracked<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf);
        let n = self.track(written)?;
        self.track_write(n, buf.len());
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.inner.flush();
        self.track(flushed)
    }
}

/// `poll_write` and `poll_flush`, the same for futures-io's `AsyncWrite` and tokio's: the
/// inner stream's, with the outcome recorded.
macro_rules! poll_write_and_flush {
    () => {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf));
            let n = this.track(written)?;
            this.track_write(n, buf.len());
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let flushed = ready!(Pin::new(&mut this.inner).poll_flush(cx));
            Poll::Ready(this.track(flushed))
        }
    };
}

impl<S: futures_lite::AsyncRead + Unpin> futures_lite::AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let read = ready!(Pin::new(&mut this.inner).poll_read(cx, buf));
        let n = this.track(read)?;
        this.track_read(n, buf.len());
        Poll::Ready(Ok(n))
    }
}

impl<S: futures_lite::AsyncWrite + Unpin> futures_lite::AsyncWrite for Tracked<S> {
    poll_write_and_flush!();

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let closed = ready!(Pin::new(&mut this.inner).poll_close(cx));
        Poll::Ready(this.track(closed))
    }
}

#[cfg(feature = "tokio-io")]
impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let (before, asked) = (buf.filled().len(), buf.remaining());
        let read = ready!(Pin::new(&mut this.inner).poll_read(cx, buf));
        this.track(read)?;
        this.track_read(buf.filled().len() - before, asked);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Tracked<S> {
    poll_write_and_flush!();

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs));
        let n = this.track(written)?;
        this.track_write(n, bufs.iter().map(|b| b.len()).sum());
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let shut = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
        Poll::Ready(this.track(shut))
    }
}

#[cfg(unix)]
impl<S: std::os::fd::AsFd> std::os::fd::AsFd for Tracked<S> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(windows)]
impl<S: std::os::windows::io::AsSocket> std::os::windows::io::AsSocket for Tracked<S> {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.inner.as_socket()
    }
}
