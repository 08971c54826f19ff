//! [`UnixManager`] over `tokio::net::UnixStream`.

use std::future::{Future, ready};
use std::path::PathBuf;
use std::time::Duration;

use netpool_core::Manager;
use netpool_std::net::{NetError, UnixTarget, check_alive, timeout};
use socket2::SockRef;
use tokio::net::UnixStream;

/// A [`Manager`] of Unix-domain [`tokio::net::UnixStream`]s.
///
/// The connect is bounded by a timeout (10 s by default); `is_valid` peeks as the TCP
/// manager's does, and `has_broken` is `false`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("netpool-tokio-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("echo.sock");
/// # let _ = std::fs::remove_file(&path);
/// # let _listener = tokio::net::UnixListener::bind(&path)?;
/// use netpool_tokio::UnixManager;
///
/// let pool = netpool_core::Pool::builder().max_size(2).build(UnixManager::new(&path))?;
/// netpool_tokio::spawn_maintenance(&pool)?;
/// let _conn = pool.get().await?;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(())
/// # }
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
            .connect(|path, limit| timeout(limit, async move { UnixStream::connect(path).await }))
    }

    fn is_valid(&self, conn: &mut UnixStream) -> impl Future<Output = Result<(), NetError>> + Send {
        ready(check_alive(SockRef::from(&*conn)))
    }

    fn has_broken(&self, _conn: &mut UnixStream) -> bool {
        false
    }
}
