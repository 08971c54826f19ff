//! Runtime-neutral building blocks shared by netpool-std, netpool-tokio and netpool-smol:
//! address checking, socket options, the connect loop over resolved addresses, the
//! liveness peek, the generic `tcp(..)` builder and the maintenance loop.
//!
//! The managers and the builder are written once, generic over a [`Runtime`]; each adapter
//! crate implements `Runtime` (how to resolve, connect and spawn maintenance) and names
//! `TcpManager<ItsRuntime>` plain `TcpManager`. Users of the adapters meet [`TcpOptions`],
//! [`NetError`] and [`BuildError`] (re-exported by every adapter); the rest is for writing
//! adapters.
//!
//! Their messages follow netpool's convention (see netpool-core's crate docs): each names
//! its cause, once (`TCP connect to 127.0.0.1:6379: Connection refused (os error 111)`),
//! and `source()` returns the cause too.

mod address;
mod builder;
mod error;
mod helpers;
mod manager;
mod options;
mod pool_builder;
mod runtime;
#[cfg(feature = "tls")]
mod tls;
mod tracked;

pub use self::address::{Address, AddressError, IntoAddress};
pub use self::builder::{TcpBuilder, maintenance_loop};
pub use self::error::{BuildError, NetError};
pub use self::helpers::{AsSockRef, check_alive, timeout};
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
