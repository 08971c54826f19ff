//! What every runtime adapter shares at its root: `pub use netpool_net::adapter::*;` in
//! netpool-tokio, netpool-smol and netpool-std gives each the same names for the network
//! types users meet, the core's types, and [`Error`], and `async_tls_runtime!` (feature `tls`) writes
//! the TLS half of an async runtime whose rustls wrapper is tokio-rustls or
//! futures-rustls.
//!
//! An adapter adds its own: its [`Runtime`](crate::Runtime) (a unit struct), its
//! maintenance (`spawn_maintenance`), and the aliases over its runtime (`TcpManager`,
//! `UnixManager`, `Pool`, `tcp(..)`, `builder()`, `TlsManager`, `TlsPool`, `tls(..)`),
//! whose items shadow any of the same name here.

#[cfg(feature = "tls-native-roots")]
pub use crate::native_roots;
#[cfg(feature = "tls-webpki-roots")]
pub use crate::webpki_roots;
pub use crate::{BuildError, IntoAddress, NetError, TcpBuilder, TcpOptions};
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
