//! netpool's network layer, written once for every runtime: address parsing and
//! resolution ([`IntoAddress`], [`Address`], [`Resolver`]; re-resolution with draining:
//! [`TcpBuilder::resolve_interval`]), socket options ([`TcpOptions`]), the TCP,
//! Unix and TLS managers ([`TcpManager`], [`UnixManager`], `TlsManager`) and their
//! builders ([`TcpBuilder`], `TlsBuilder`, [`PoolBuilder`]), their errors ([`NetError`],
//! [`BuildError`], `TlsError`), the [`Tracked`] stream under TLS, and the maintenance
//! loops ([`maintenance_loop`], [`keyed_maintenance_loop`]).
//!
//! Everything here is generic over a [`Runtime`] (and, for TLS, a `TlsRuntime`): how to
//! resolve a name, connect, and spawn maintenance. The runtime adapters implement it and
//! are glue around this crate: `netpool_tokio::Tokio`, `netpool_smol::Smol` and
//! `netpool_std::Threads` (blocking sockets on threads), each naming
//! `TcpManager<ItsRuntime>` plain `TcpManager` (with [`adapter!`]) and re-exporting
//! [`adapter`](mod@adapter) at its root. Use an adapter; depend on this crate to write one (for another runtime) or to name the
//! generic types.
//!
//! ```
//! # let server = netpool_testkit::EchoServer::start()?;
//! # let addr = server.addr().to_string();
//! use netpool_net::{TcpManager, TcpOptions};
//! use netpool_std::Threads; // the blocking runtime: its `TcpManager` is this one
//!
//! let manager = TcpManager::<Threads>::new(addr).with_options(TcpOptions::new().nodelay(true));
//! let pool = netpool_core::Pool::builder().max_size(2).build(manager)?;
//! let _conn = pool.get_blocking()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Messages follow netpool's convention (see netpool-core's crate docs): each names its
//! cause, once (`TCP connect to 127.0.0.1:6379: Connection refused (os error 111)`), and
//! `source()` returns the cause too.
//!
//! # Features
//!
//! * `tls`: `TlsManager`, `TlsBuilder`, `TlsError` and `TlsRuntime`, over rustls
//!   (re-exported as `rustls`).
//! * `tls-ring` (default) / `tls-aws-lc-rs`: the crypto provider of `tls_provider()` and
//!   `tls_config(roots)` (aws-lc-rs wins when both are on; exactly one is built in a
//!   default build); `tls-webpki-roots`: `webpki_roots()`; `tls-native-roots`:
//!   `native_roots()`, the platform's roots.
//! * `tokio-io`: [`Tracked`] implements tokio's `AsyncRead` and `AsyncWrite` (for
//!   netpool-tokio's TLS streams); it implements the `futures-io` traits and std's `Read`
//!   and `Write` always.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;

/// For the macros.
#[doc(hidden)]
pub mod __private {
    pub use netpool_core;
}
mod address;
mod builder;
mod dns;
mod error;
mod helpers;
mod maintain;
mod manager;
mod options;
mod pool_builder;
mod runtime;
#[cfg(feature = "tls")]
mod tls;
mod tracked;

pub use self::address::{Address, AddressError, IntoAddress};
pub use self::builder::{CheckoutHook, ConnectHook, TcpBuilder};
pub use self::dns::Resolver;
pub use self::error::{BuildError, NetError};
pub use self::helpers::{AsSockRef, check_alive, timeout};
pub use self::maintain::{keyed_maintenance_loop, maintenance_loop};
pub use self::manager::TcpManager;
#[cfg(unix)]
pub use self::manager::UnixManager;
pub use self::options::TcpOptions;
pub use self::pool_builder::PoolBuilder;
pub use self::runtime::Runtime;
#[cfg(feature = "tls-native-roots")]
pub use self::tls::native_roots;
#[cfg(feature = "tls-webpki-roots")]
pub use self::tls::webpki_roots;
#[cfg(feature = "tls")]
pub use self::tls::{CLIENT_AUTH_WAIT, TlsBuilder, TlsError, TlsManager, TlsRuntime};
#[cfg(all(feature = "tls", any(feature = "tls-ring", feature = "tls-aws-lc-rs")))]
pub use self::tls::{tls_config, tls_provider};
pub use self::tracked::Tracked;
/// The rustls crate the TLS managers use (feature `tls`), for building a
/// [`ClientConfig`](rustls::ClientConfig) of the same version.
#[cfg(feature = "tls")]
pub use rustls;
