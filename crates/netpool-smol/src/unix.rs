//! [`UnixManager`] over smol's `UnixStream`.

use std::future::{Future, ready};
use std::path::PathBuf;
use std::time::Duration;

use netpool_core::Manager;
use netpool_std::net::{NetError, UnixTarget, check_alive, timeout};
use smol::net::unix::UnixStream;
use socket2::SockRef;

/// A [`Manager`] of smol's Unix-domain [`UnixStream`](smol::net::unix::UnixStream)s.
///
/// The connect is bounded by a timeout (10 s by default); `is_valid` peeks as the TCP
/// manager's does, and `has_broken` is `false`.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("netpool-smol-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("echo.sock");
/// # let _ = std::fs::remove_file(&path);
/// # let _listener = std::os::unix::net::UnixListener::bind(&path)?;
/// use netpool_smol::UnixManager;
///
/// let pool = netpool_core::Pool::builder().max_size(2).build(UnixManager::new(&path))?;
/// netpool_smol::spawn_maintenance(&pool).detach();
/// let _conn = smol::block_on(pool.get())?;
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

    /// Sets the connect timeout (default 10 s; `None`: no bound of its own).
    pub fn with_connect_timeout(mut self, limit: Option<Duration>) -> Self {
        self.target = self.target.with_connect_timeout(limit);
        self
    }
}

impl Manager for UnixManager {
    type Connection = UnixStream;
    type Error = NetError;

    fn connect(&self) -> impl Future<Output = Result<UnixStream, NetError>> + Send {
        self.target
            .connect(|path, limit| timeout(limit, UnixStream::connect(path)))
    }

    fn is_valid(&self, conn: &mut UnixStream) -> impl Future<Output = Result<(), NetError>> + Send {
        ready(check_alive(SockRef::from(&*conn)))
    }

    fn has_broken(&self, _conn: &mut UnixStream) -> bool {
        false
    }
}
