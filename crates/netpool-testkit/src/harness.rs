//! The chaos and TLS harnesses, written once over netpool-net: an adapter's tests
//! implement [`Exec`] (how its clients run, and one exchange on each of its streams), and
//! [`Tcp`]`(exec)` and [`Tls`]`(exec)` are then its [`Harness`] and [`TlsHarness`]: the
//! pools come from netpool-net's generic builders over the adapter's runtime, which is
//! what the adapter's `tcp(..)` and `tls(..)` return.
//!
//! ```ignore
//! struct Smol;
//! impl netpool_testkit::harness::Exec for Smol {
//!     type Runtime = netpool_smol::Smol;
//!     fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> { .. }
//!     netpool_testkit::async_exchange!(smol::io);
//! }
//! netpool_testkit::chaos_tests!(netpool_testkit::harness::Tcp(Smol));
//! netpool_testkit::tls_tests!(netpool_testkit::harness::Tls(Smol));
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use netpool_core::Pool;
use netpool_net::rustls::ClientConfig;
use netpool_net::{AsSockRef, Runtime, TcpBuilder, TcpManager, TlsBuilder, TlsManager, TlsRuntime};

use crate::chaos::scenario::{Client, GetResult, Harness, Settings};
use crate::tls::checks::{TlsHarness, TlsSetup};

/// The TCP stream of `E`'s runtime.
pub type TcpOf<E> = <<E as Exec>::Runtime as Runtime>::TcpStream;
/// The TLS stream of `E`'s runtime.
pub type TlsOf<E> = <<E as Exec>::Runtime as TlsRuntime>::TlsStream;

/// What an adapter's tests supply: its runtime, how its clients run, and one exchange on
/// each of its streams.
pub trait Exec: Send + Sync + 'static {
    /// The adapter's netpool-net runtime (`netpool_tokio::Tokio`, ...).
    type Runtime: TlsRuntime;

    /// Runs `clients` concurrently (as tasks, or one thread each) until all finish, and
    /// returns their outputs in order.
    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T>;

    /// Runs `build` where the runtime's builders can start maintenance (inside a tokio
    /// runtime, say). By default, here.
    fn build<T>(&self, build: impl FnOnce() -> T) -> T {
        build()
    }

    /// Writes `msg`, flushes, then reads exactly `reply.len()` bytes into `reply` (either
    /// may be empty).
    fn exchange<'a>(
        conn: &'a mut TcpOf<Self>,
        msg: &'a [u8],
        reply: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;

    /// [`exchange`](Self::exchange) on a TLS stream.
    fn exchange_tls<'a>(
        conn: &'a mut TlsOf<Self>,
        msg: &'a [u8],
        reply: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

/// Writes [`Exec::exchange`] and [`Exec::exchange_tls`] for an async runtime, inside its
/// `impl Exec`, with the `AsyncReadExt` and `AsyncWriteExt` of the module named:
/// `async_exchange!(tokio::io)`, `async_exchange!(smol::io)`.
#[macro_export]
macro_rules! async_exchange {
    ($io:path) => {
        async fn exchange(
            conn: &mut $crate::harness::TcpOf<Self>,
            msg: &[u8],
            reply: &mut [u8],
        ) -> ::std::io::Result<()> {
            $crate::async_exchange!(@body $io, conn, msg, reply)
        }

        async fn exchange_tls(
            conn: &mut $crate::harness::TlsOf<Self>,
            msg: &[u8],
            reply: &mut [u8],
        ) -> ::std::io::Result<()> {
            $crate::async_exchange!(@body $io, conn, msg, reply)
        }
    };
    (@body $io:path, $conn:ident, $msg:ident, $reply:ident) => {{
        use $io as io;
        use io::{AsyncReadExt as _, AsyncWriteExt as _};
        $conn.write_all($msg).await?;
        $conn.flush().await?;
        $conn.read_exact($reply).await.map(drop)
    }};
}

/// The chaos [`Harness`] of TCP connections on `E`'s runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tcp<E>(pub E);

/// The chaos [`Harness`] and the [`TlsHarness`] of TLS connections on `E`'s runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tls<E>(pub E);

impl<E: Exec> Tcp<E> {
    /// A pool of connections to `addr` from the runtime's `tcp(addr)` builder (netpool-net's
    /// [`TcpBuilder`]), set up by `configure`, with its maintenance started.
    ///
    /// # Panics
    ///
    /// When `configure` makes invalid settings.
    pub fn tcp_pool(
        &self,
        addr: String,
        configure: impl FnOnce(TcpBuilder<E::Runtime>) -> TcpBuilder<E::Runtime>,
    ) -> Pool<TcpManager<E::Runtime>> {
        self.0.build(|| {
            configure(TcpBuilder::new(addr))
                .build()
                .expect("valid settings")
        })
    }
}

impl<E: Exec> Harness for Tcp<E> {
    type Manager = TcpManager<E::Runtime>;

    fn pool(&self, addr: String, s: &Settings) -> Pool<Self::Manager> {
        self.tcp_pool(addr, |b| {
            b.max_size(s.max_size)
                .wait_timeout(Some(s.wait_timeout))
                .connect_timeout(Some(s.connect_timeout))
                .check_idle_after(s.check_idle_after)
        })
    }

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        self.0.run(clients)
    }

    fn echo<'a>(
        conn: &'a mut TcpOf<E>,
        msg: &'a [u8],
        timeout: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        echo::<Self>(conn, msg, timeout)
    }

    fn local_addr(conn: &TcpOf<E>) -> io::Result<SocketAddr> {
        socket_addr(<Self as Stream>::socket(conn).local_addr()?)
    }

    fn get(pool: &Pool<Self::Manager>) -> impl Future<Output = GetResult<Self::Manager>> + Send {
        get::<E::Runtime, _>(pool)
    }
}

impl<E: Exec> Harness for Tls<E> {
    type Manager = TlsManager<E::Runtime>;

    fn pool(&self, addr: String, s: &Settings) -> Pool<Self::Manager> {
        let mut setup = TlsSetup::new();
        setup.settings = s.clone();
        self.tls_pool(addr, &setup)
    }

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        self.0.run(clients)
    }

    fn echo<'a>(
        conn: &'a mut TlsOf<E>,
        msg: &'a [u8],
        timeout: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        echo::<Self>(conn, msg, timeout)
    }

    fn local_addr(conn: &TlsOf<E>) -> io::Result<SocketAddr> {
        socket_addr(<Self as Stream>::socket(conn).local_addr()?)
    }

    fn get(pool: &Pool<Self::Manager>) -> impl Future<Output = GetResult<Self::Manager>> + Send {
        get::<E::Runtime, _>(pool)
    }
}

impl<E: Exec> TlsHarness for Tls<E> {
    fn tls_pool(&self, addr: String, setup: &TlsSetup) -> Pool<Self::Manager> {
        let s = &setup.settings;
        let mut builder = TlsBuilder::<E::Runtime>::new(addr, setup.config.clone())
            .max_size(s.max_size)
            .wait_timeout(Some(s.wait_timeout))
            .connect_timeout(Some(s.connect_timeout))
            .check_idle_after(s.check_idle_after);
        if let Some(name) = &setup.server_name {
            builder = builder.server_name(name.clone());
        }
        if let Some(backoff) = setup.backoff {
            builder = builder.connect_backoff(backoff, backoff);
        }
        self.0.build(|| builder.build().expect("valid settings"))
    }

    fn send<'a>(
        conn: &'a mut TlsOf<E>,
        msg: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        E::exchange_tls(conn, msg, &mut [])
    }

    fn recv<'a>(
        conn: &'a mut TlsOf<E>,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        E::exchange_tls(conn, &[], buf)
    }

    fn alpn(conn: &TlsOf<E>) -> Option<Vec<u8>> {
        E::Runtime::parts(conn)
            .1
            .alpn_protocol()
            .map(<[u8]>::to_vec)
    }

    fn socket(conn: &TlsOf<E>) -> socket2::SockRef<'_> {
        <Self as Stream>::socket(conn)
    }

    fn set_config(pool: &Pool<Self::Manager>, config: Arc<ClientConfig>) {
        pool.manager().set_config(config);
    }

    fn retire_old(pool: &Pool<Self::Manager>) {
        pool.retain(|conn, _| pool.manager().is_current(conn));
    }
}

/// One checkout as the runtime's callers make it: `get_blocking` on the blocking runtime
/// (one thread per client), `get` elsewhere.
async fn get<R: Runtime, M: netpool_core::Manager>(pool: &Pool<M>) -> GetResult<M> {
    if R::BLOCKING {
        pool.get_blocking()
    } else {
        pool.get().await
    }
}

/// What [`echo`] needs of a harness's connection: its socket, and one exchange on it.
trait Stream: Harness {
    /// Whether the exchange blocks (the blocking runtime).
    const BLOCKING: bool;

    /// The TCP socket of a connection.
    fn socket(conn: &Conn<Self>) -> socket2::SockRef<'_>;

    /// [`Exec::exchange`] or [`Exec::exchange_tls`].
    fn exchange<'a>(
        conn: &'a mut Conn<Self>,
        msg: &'a [u8],
        reply: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

/// A harness's connection.
type Conn<H> = <<H as Harness>::Manager as netpool_core::Manager>::Connection;

impl<E: Exec> Stream for Tcp<E> {
    const BLOCKING: bool = E::Runtime::BLOCKING;

    fn socket(conn: &TcpOf<E>) -> socket2::SockRef<'_> {
        conn.sock_ref()
    }

    fn exchange<'a>(
        conn: &'a mut TcpOf<E>,
        msg: &'a [u8],
        reply: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        E::exchange(conn, msg, reply)
    }
}

impl<E: Exec> Stream for Tls<E> {
    const BLOCKING: bool = E::Runtime::BLOCKING;

    fn socket(conn: &TlsOf<E>) -> socket2::SockRef<'_> {
        E::Runtime::parts(conn).0.sock_ref()
    }

    fn exchange<'a>(
        conn: &'a mut TlsOf<E>,
        msg: &'a [u8],
        reply: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        E::exchange_tls(conn, msg, reply)
    }
}

/// One echo round trip of `msg` within `timeout`: by the socket's timeouts on the blocking
/// runtime (whose exchange blocks in its first poll), by a timer elsewhere.
async fn echo<H: Stream>(conn: &mut Conn<H>, msg: &[u8], timeout: Duration) -> io::Result<()> {
    let mut reply = vec![0; msg.len()];
    if H::BLOCKING {
        H::socket(conn).set_read_timeout(Some(timeout))?;
        H::socket(conn).set_write_timeout(Some(timeout))?;
    }
    let done = netpool_net::timeout(Some(timeout), H::exchange(conn, msg, &mut reply)).await;
    if H::BLOCKING {
        H::socket(conn).set_read_timeout(None)?;
        H::socket(conn).set_write_timeout(None)?;
    }
    match done {
        // A blocking socket reports an expired read timeout as WouldBlock on Unix.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            Err(io::Error::new(io::ErrorKind::TimedOut, e))
        }
        Err(e) => Err(e),
        Ok(()) if reply != msg => Err(io::Error::other("the echo differs")),
        Ok(()) => Ok(()),
    }
}

/// A socket address as an IP one.
fn socket_addr(addr: socket2::SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))
}

/// Awaits `tasks` in order: the outputs of tasks spawned (and so running) already.
pub async fn join_all<F: Future>(tasks: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await);
    }
    out
}

/// Runs each client on a thread of its own with `block_on` (the blocking runtime's
/// [`Exec::run`]), and returns their outputs in order.
///
/// # Panics
///
/// When a client panicked.
pub fn run_on_threads<T: Send + 'static>(clients: Vec<Client<T>>) -> Vec<T> {
    let threads: Vec<_> = clients
        .into_iter()
        .map(|client| std::thread::spawn(move || futures_lite::future::block_on(client)))
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a client panicked"))
        .collect()
}

/// [`Exec::exchange`] on a blocking stream (the future is ready: the I/O happened in the
/// call).
pub fn blocking_exchange<S: std::io::Read + std::io::Write>(
    conn: &mut S,
    msg: &[u8],
    reply: &mut [u8],
) -> std::future::Ready<io::Result<()>> {
    std::future::ready(
        conn.write_all(msg)
            .and_then(|()| conn.flush())
            .and_then(|()| conn.read_exact(reply)),
    )
}

/// Compiles only if the TCP and TLS types of `E`'s runtime (managers, pools, guards,
/// builders, errors) are `Send` (and `Sync` where shared) and `'static`: what the
/// adapters' aliases name (`tls_tests!` runs it).
pub fn types_are_send_sync<E: Exec>(_: &Tls<E>) {
    fn shared<T: Send + Sync + 'static>() {}
    fn owned<T: Send + 'static>() {}
    shared::<Pool<TcpManager<E::Runtime>>>();
    shared::<Pool<TlsManager<E::Runtime>>>();
    shared::<netpool_net::NetError>();
    shared::<netpool_net::TlsError>();
    shared::<netpool_net::Resolver>();
    owned::<netpool_core::Pooled<TcpManager<E::Runtime>>>();
    owned::<netpool_core::Pooled<TlsManager<E::Runtime>>>();
    owned::<TcpBuilder<E::Runtime>>();
    owned::<TlsBuilder<E::Runtime>>();
}

/// The socket under a runtime's stream (for its options).
pub fn socket_of<S: AsSockRef>(conn: &S) -> socket2::SockRef<'_> {
    conn.sock_ref()
}

/// One echo round trip of `msg` on a connection of `E`'s runtime, without a bound (the
/// tests' own helper; the scenarios use the harness's bounded `echo`).
///
/// # Errors
///
/// The exchange's error, or an `io::Error` when the reply differs.
pub async fn echo_once<E: Exec>(conn: &mut TcpOf<E>, msg: &[u8]) -> io::Result<()> {
    let mut reply = vec![0; msg.len()];
    E::exchange(conn, msg, &mut reply).await?;
    if reply != msg {
        return Err(io::Error::other("the echo differs"));
    }
    Ok(())
}

/// Writes [`Exec::exchange`] and [`Exec::exchange_tls`] for the blocking runtime, inside
/// its `impl Exec`, with [`blocking_exchange`]: `blocking_exchange!()`.
#[macro_export]
macro_rules! blocking_exchange {
    () => {
        fn exchange<'a>(
            conn: &'a mut $crate::harness::TcpOf<Self>,
            msg: &'a [u8],
            reply: &'a mut [u8],
        ) -> impl ::std::future::Future<Output = ::std::io::Result<()>> + Send + 'a {
            $crate::harness::blocking_exchange(conn, msg, reply)
        }

        fn exchange_tls<'a>(
            conn: &'a mut $crate::harness::TlsOf<Self>,
            msg: &'a [u8],
            reply: &'a mut [u8],
        ) -> impl ::std::future::Future<Output = ::std::io::Result<()>> + Send + 'a {
            $crate::harness::blocking_exchange(conn, msg, reply)
        }
    };
}
