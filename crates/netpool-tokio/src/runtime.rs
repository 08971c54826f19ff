//! [`Tokio`], the [`Runtime`] of tokio's streams, and the maintenance it starts as a tokio
//! task: [`spawn_maintenance`], and [`spawn_keyed_maintenance`] for a [`KeyedPool`].

use std::hash::Hash;
use std::io;
use std::net::SocketAddr;

use crate::Tokio;
use netpool_core::{KeyedPool, Manager, Pool};
use netpool_net::{BuildError, Runtime, keyed_maintenance_loop, maintenance_loop};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

impl Runtime for Tokio {
    type TcpStream = tokio::net::TcpStream;
    #[cfg(unix)]
    type UnixStream = tokio::net::UnixStream;

    async fn resolve(name: String) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host(name).await?.collect())
    }

    netpool_net::async_connect!();

    fn start_maintenance<M: Manager>(pool: &Pool<M>) -> Result<(), BuildError> {
        crate::spawn_maintenance(pool).map(drop)
    }

    /// A task on the current tokio runtime (the builders check that there is one).
    fn spawn(
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), BuildError> {
        Self::can_start_maintenance()?;
        drop(tokio::spawn(task));
        Ok(())
    }

    fn can_start_maintenance() -> Result<(), BuildError> {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => Ok(()),
            Err(_) => Err(BuildError::NoRuntime { runtime: "tokio" }),
        }
    }
}

/// Spawns a task on the current tokio runtime that runs [`Pool::maintain`] every
/// [`Pool::maintenance_interval`]: idle and lifetime reaping, background checks,
/// `min_idle` refill.
///
/// The task holds a weak handle between passes and ends after the pool is dropped or
/// closed (within one interval). It sleeps on async-io's timer, so the runtime needs no
/// time driver. [`tcp`](crate::tcp) calls it for you; call it for pools of your own
/// managers.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = netpool_testkit::EchoServer::start()?;
/// use netpool_tokio::TcpManager;
///
/// let pool = netpool_core::Pool::builder()
///     .min_idle(Some(2))
///     .build(TcpManager::new(server.addr().to_string()))?;
/// let task = netpool_tokio::spawn_maintenance(&pool)?;
/// # let start = std::time::Instant::now();
/// # while pool.stats().idle < 2 && start.elapsed().as_secs() < 10 {
/// #     tokio::task::yield_now().await;
/// # }
/// assert_eq!(pool.stats().idle, 2); // min_idle filled
/// drop(pool);
/// task.await?; // the task ends with the pool
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`BuildError::NoRuntime`] when called outside a tokio runtime.
pub fn spawn_maintenance<M: Manager>(pool: &Pool<M>) -> Result<JoinHandle<()>, BuildError> {
    let handle = Handle::try_current().map_err(|_| BuildError::NoRuntime { runtime: "tokio" })?;
    Ok(handle.spawn(maintenance_loop(pool.downgrade(), async_io::Timer::after)))
}

/// Spawns a task on the current tokio runtime that runs [`KeyedPool::maintain`] every
/// [`KeyedPool::maintenance_interval`]: each key's reaping, checks and `min_idle`, and the
/// forgetting of unused keys.
///
/// The task holds a weak handle between passes and ends after the pool is dropped or
/// closed (within one interval). It sleeps on async-io's timer, so the runtime needs no
/// time driver.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = netpool_testkit::EchoServer::start()?;
/// use netpool_tokio::TcpManager;
///
/// let pool = netpool_core::KeyedPool::builder()
///     .min_idle(Some(2))
///     .build(|addr: &String| TcpManager::new(addr.clone()))?;
/// let key = server.addr().to_string();
/// drop(pool.get(&key).await?); // the key exists now
/// let task = netpool_tokio::spawn_keyed_maintenance(&pool)?;
/// # let start = std::time::Instant::now();
/// # while pool.stats_for(&key).unwrap().idle < 2 && start.elapsed().as_secs() < 10 {
/// #     tokio::task::yield_now().await;
/// # }
/// assert_eq!(pool.stats_for(&key).unwrap().idle, 2); // min_idle filled
/// drop(pool);
/// task.await?; // the task ends with the pool
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`BuildError::NoRuntime`] when called outside a tokio runtime.
pub fn spawn_keyed_maintenance<K, M>(pool: &KeyedPool<K, M>) -> Result<JoinHandle<()>, BuildError>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
{
    let handle = Handle::try_current().map_err(|_| BuildError::NoRuntime { runtime: "tokio" })?;
    Ok(handle.spawn(keyed_maintenance_loop(
        pool.downgrade(),
        async_io::Timer::after,
    )))
}

#[cfg(feature = "tls")]
netpool_net::async_tls_runtime!(Tokio, tokio::net::TcpStream, tokio_rustls);
