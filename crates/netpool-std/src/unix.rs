//! [`UnixManager`] over blocking `std::os::unix::net::UnixStream`s.

use std::future::{Future, ready};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use netpool_core::Manager;
use socket2::SockRef;

use crate::net::{NetError, UnixTarget};
use crate::tcp::peek_blocking;

/// A [`Manager`] of blocking Unix-domain [`UnixStream`]s.
///
/// Use it through `get_blocking`, as [`TcpManager`](crate::TcpManager). The connect has
/// no timeout (a Unix connect does not wait on a network); `is_valid` peeks as the TCP
/// manager's does, and `has_broken` is `false`.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("netpool-std-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("echo.sock");
/// # let _ = std::fs::remove_file(&path);
/// # let _listener = std::os::unix::net::UnixListener::bind(&path)?;
/// use netpool_std::UnixManager;
///
/// let pool = netpool_core::Pool::builder().max_size(2).build(UnixManager::new(&path))?;
/// let _conn = pool.get_blocking()?;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UnixManager {
    target: UnixTarget,
}

impl UnixManager {
    /// A manager for the socket at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            target: UnixTarget::new(path),
        }
    }
}

impl Manager for UnixManager {
    type Connection = UnixStream;
    type Error = NetError;

    fn connect(&self) -> impl Future<Output = Result<UnixStream, NetError>> + Send {
        self.target
            .connect(|path, _| ready(UnixStream::connect(path)))
    }

    fn is_valid(&self, conn: &mut UnixStream) -> impl Future<Output = Result<(), NetError>> + Send {
        ready(peek_blocking(SockRef::from(&*conn)))
    }

    fn has_broken(&self, _conn: &mut UnixStream) -> bool {
        false
    }
}
