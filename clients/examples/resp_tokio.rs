//! A hand-written RESP client through netpool on tokio: many tasks do SET then GET on
//! their own key for a few seconds, then the example prints the rate and the pool's stats.
//!
//! It runs the workload twice, to show the two ways a custom protocol sits on netpool:
//!
//! 1. `resp::TokioManager`: a manager whose connection *is* the protocol client (it
//!    checks connections with `PING` and knows when the client broke);
//! 2. `netpool_tokio::tcp(addr)`: the adapter's plain TCP pool, with the client borrowing
//!    the pooled `TcpStream` for each exchange (the adapter checks idle streams with a
//!    non-blocking peek).
//!
//! Both RESP examples run `netpool_clients::workload::resp_example`, on their runtime.
//! It exits with an error if any operation failed, so CI can run it as a check.
//!
//! ```text
//! cargo run --release -p netpool-clients --example resp_tokio -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).

use netpool_clients::workload::{self, Runtime};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    workload::resp_example(Runtime::Tokio).await
}
