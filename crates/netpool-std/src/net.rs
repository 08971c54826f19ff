//! Runtime-neutral building blocks shared by netpool-std, netpool-tokio and netpool-smol:
//! address checking, socket options, the connect loop over resolved addresses, the
//! liveness peek, the generic `tcp(..)` builder and the maintenance loop.
//!
//! Each adapter crate adds only what is its runtime's own: how to resolve, connect, sleep
//! and spawn. Users of the adapters meet [`TcpOptions`], [`NetError`] and [`BuildError`]
//! (re-exported by every adapter); the rest is for writing adapters.

mod address;
mod builder;
mod error;
mod options;
mod target;

pub use self::address::{Address, AddressError};
pub use self::builder::{Runtime, TcpBuilder, maintenance_loop};
pub use self::error::{BuildError, NetError};
pub use self::options::TcpOptions;
pub use self::target::{TcpTarget, UnixTarget, check_alive, timeout};
