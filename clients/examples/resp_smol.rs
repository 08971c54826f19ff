//! A hand-written RESP client through netpool on smol: many tasks do SET then GET on
//! their own key for a few seconds, then the example prints the rate and the pool's stats.
//!
//! As `resp_tokio`, it runs the workload twice:
//!
//! 1. `resp::SmolManager`: the pooled connection is the protocol client;
//! 2. `netpool_smol::tcp(addr)`: the adapter's plain TCP pool, with the client borrowing
//!    the pooled `TcpStream` (which implements the futures-io traits) for each exchange.
//!
//! Both RESP examples run `netpool_clients::workload::resp_example`, on their runtime.
//! It exits with an error if any operation failed, so CI can run it as a check.
//!
//! ```text
//! cargo run --release -p netpool-clients --example resp_smol -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).

use netpool_clients::workload::{self, Runtime};

/// The tasks run on smol's global executor, which uses `SMOL_THREADS` threads (default 1).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(workload::resp_example(Runtime::Smol))
}
