//! What every runtime adapter shares at its root. An adapter (netpool-tokio, netpool-smol,
//! netpool-std) is the impl of its [`Runtime`](crate::Runtime), its maintenance
//! (`spawn_maintenance`), and one `netpool_net::adapter!(ItsRuntime)`, which declares the
//! runtime (a unit struct) and its items over it (`TcpManager`, `UnixManager`, `Pool`, `tcp(..)`,
//! `builder()`, and with its feature `tls`: `TlsManager`, `TlsPool`, `tls(..)`) with the
//! docs in the adapter's `docs/<item>.md`, and re-exports this module (the network types
//! users meet, the core's types, and [`Error`]), the core crate as `core` and this crate
//! as `net`.
//!
//! `async_connect!` and `async_tls_runtime!` (feature `tls`) write the parts of a
//! `Runtime` and a `TlsRuntime` that every async runtime writes alike.

#[cfg(feature = "tls-native-roots")]
pub use crate::native_roots;
#[cfg(feature = "tls-webpki-roots")]
pub use crate::webpki_roots;
pub use crate::{BuildError, IntoAddress, NetError, Resolver, TcpBuilder, TcpOptions};
#[cfg(feature = "tls")]
pub use crate::{TlsBuilder, TlsError, Tracked, rustls};
#[cfg(all(feature = "tls", any(feature = "tls-ring", feature = "tls-aws-lc-rs")))]
pub use crate::{tls_config, tls_provider};
pub use netpool_core::{
    BoxError, Builder, Check, CloseReason, Config, ConnectFailure, Event, EventHandler, Hooks,
    KeyedBuilder, KeyedPool, KeyedStats, LastConnectError, Manager, Meta, NoHooks, Pooled,
    QueueStrategy, Stats, TimedOut, WeakKeyedPool, WeakPool,
};

/// The error of [`Pool::get`](netpool_core::Pool::get) and the other checkouts:
/// [`netpool_core::Error`] over the adapters' managers' [`NetError`] (name another
/// manager's error as `Error<E>`).
pub type Error<E = NetError> = netpool_core::Error<E>;

/// Implements [`TlsRuntime`](crate::TlsRuntime) for an async runtime whose TCP stream
/// has an async `peek` (tokio's, smol's), with a rustls wrapper of tokio-rustls's API
/// (`TlsConnector::connect`, `client::TlsStream::get_mut`): tokio-rustls or
/// futures-rustls.
///
/// `async_tls_runtime!(Runtime, TcpStream, wrapper_crate)`; netpool-tokio's is
/// `async_tls_runtime!(Tokio, tokio::net::TcpStream, tokio_rustls)`.
///
/// The handshake is bounded by the connect attempt's budget with
/// [`timeout`](crate::timeout) (async-io's timer); the readiness wait peeks one byte.
#[cfg(feature = "tls")]
#[macro_export]
macro_rules! async_tls_runtime {
    ($runtime:ty, $tcp:ty, $wrapper:ident) => {
        impl $crate::TlsRuntime for $runtime {
            type TlsStream = $wrapper::client::TlsStream<$crate::Tracked<$tcp>>;

            async fn handshake(
                config: ::std::sync::Arc<$crate::rustls::ClientConfig>,
                name: $crate::rustls::pki_types::ServerName<'static>,
                tcp: $crate::Tracked<$tcp>,
                limit: ::std::option::Option<::std::time::Duration>,
            ) -> ::std::io::Result<Self::TlsStream> {
                let connect = $wrapper::TlsConnector::from(config).connect(name, tcp);
                $crate::timeout(limit, connect).await
            }

            fn parts(
                stream: &Self::TlsStream,
            ) -> (&$crate::Tracked<$tcp>, &$crate::rustls::ClientConnection) {
                stream.get_ref()
            }

            fn parts_mut(
                stream: &mut Self::TlsStream,
            ) -> (
                &$crate::Tracked<$tcp>,
                &mut $crate::rustls::ClientConnection,
            ) {
                let (tcp, conn) = stream.get_mut();
                (tcp, conn)
            }

            async fn readable(tcp: &$tcp, limit: ::std::time::Duration) -> ::std::io::Result<bool> {
                let peeked = $crate::timeout(Some(limit), tcp.peek(&mut [0; 1])).await;
                match peeked {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == ::std::io::ErrorKind::TimedOut => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    };
}

/// Declares an adapter's runtime `$runtime` (a unit struct, whose `Runtime` impl the
/// adapter writes) and its items over it at the adapter's root, each documented by the
/// adapter's `docs/<item>.md` (its examples are the runtime's; the struct's is
/// `docs/runtime.md`): `TcpManager`, `UnixManager` (unix), `Pool`, `tcp(addr)`, `builder()`, and, with the
/// adapter's feature `tls`, `TlsManager`, `TlsPool`, `tls(addr, config)`. Re-exports
/// [`adapter`](mod@crate::adapter)'s items, the core crate as `core` and netpool-net as `net`.
#[macro_export]
macro_rules! adapter {
    ($runtime:ident) => {
        /// The network layer, generic over the runtime (the netpool-net crate): this
        /// crate's managers and builders are its types over this crate's runtime.
        pub use $crate as net;
        /// The core crate, for what this crate does not re-export (writing your own
        /// manager, say).
        pub use $crate::__private::netpool_core as core;
        pub use $crate::adapter::*;

        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runtime.md"))]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $runtime;

        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/TcpManager.md"))]
        pub type TcpManager = $crate::TcpManager<$runtime>;

        #[cfg(unix)]
        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/UnixManager.md"))]
        pub type UnixManager = $crate::UnixManager<$runtime>;

        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/Pool.md"))]
        pub type Pool = $crate::__private::netpool_core::Pool<TcpManager>;

        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tcp.md"))]
        pub fn tcp(addr: impl $crate::IntoAddress) -> $crate::TcpBuilder<$runtime> {
            $crate::TcpBuilder::new(addr)
        }

        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/builder.md"))]
        pub fn builder() -> $crate::PoolBuilder<$runtime> {
            $crate::PoolBuilder::new()
        }

        #[cfg(feature = "tls")]
        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/TlsManager.md"))]
        pub type TlsManager = $crate::TlsManager<$runtime>;

        #[cfg(feature = "tls")]
        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/TlsPool.md"))]
        pub type TlsPool = $crate::__private::netpool_core::Pool<TlsManager>;

        #[cfg(feature = "tls")]
        #[doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tls.md"))]
        pub fn tls(
            addr: impl $crate::IntoAddress,
            config: ::std::sync::Arc<$crate::rustls::ClientConfig>,
        ) -> $crate::TlsBuilder<$runtime> {
            $crate::TlsBuilder::new(addr, config)
        }
    };
}

/// Writes [`Runtime::connect_tcp`](crate::Runtime::connect_tcp) and
/// [`Runtime::connect_unix`](crate::Runtime::connect_unix) inside the `impl Runtime` of
/// an async runtime whose streams have an async `connect` (tokio's, smol's): the
/// stream's connect, bounded by `limit` with [`timeout`](crate::timeout) (async-io's
/// timer).
#[macro_export]
macro_rules! async_connect {
    () => {
        async fn connect_tcp(
            addr: ::std::net::SocketAddr,
            limit: ::std::option::Option<::std::time::Duration>,
        ) -> ::std::io::Result<Self::TcpStream> {
            $crate::timeout(limit, <Self::TcpStream>::connect(addr)).await
        }

        #[cfg(unix)]
        async fn connect_unix(
            path: ::std::path::PathBuf,
            limit: ::std::option::Option<::std::time::Duration>,
        ) -> ::std::io::Result<Self::UnixStream> {
            $crate::timeout(limit, <Self::UnixStream>::connect(path)).await
        }
    };
}
