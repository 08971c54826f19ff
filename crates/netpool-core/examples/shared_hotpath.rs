//! The cost of a `SharedPool` lend without a server: a fixed number of lend+return
//! cycles on a pool of in-memory multiplexed handles, for `valgrind --tool=callgrind`
//! (repeatable instruction counts) or for wall time with threads.
//!
//! `shared_hotpath <connections> <cycles> [threads]`: each thread keeps 64 lends out
//! (returning the oldest as it takes a new one), as 64 tasks sharing the pool would, on a
//! pool of `connections` connections of `128 / connections` lends each. Prints the
//! nanoseconds per lend+return. Run under callgrind twice with different cycle counts
//! and subtract, to remove the set-up:
//!
//! ```text
//! cargo build --release -p netpool-core --example shared_hotpath
//! valgrind --tool=callgrind target/release/examples/shared_hotpath 4 100000 1
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use netpool_core::{Manager, SharedPool};

/// A handle as cheap to clone as a `MultiplexedConnection` is (an `Arc`).
#[derive(Clone)]
struct Handle(#[allow(dead_code, reason = "only cloned")] Arc<u64>);

struct Mux;

impl Manager for Mux {
    type Connection = Handle;
    type Error = Infallible;

    async fn connect(&self) -> Result<Handle, Infallible> {
        Ok(Handle(Arc::new(0)))
    }
    async fn is_valid(&self, _: &mut Handle) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut Handle) -> bool {
        false
    }
}

const HELD: usize = 64;

fn main() {
    let mut args = std::env::args().skip(1);
    let connections: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(4);
    let cycles: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let threads: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let pool = SharedPool::builder()
        .max_size(connections)
        .min_idle(Some(connections))
        .max_concurrent_per_connection(128usize.div_ceil(connections).max(16))
        .build(Mux)
        .expect("pool");
    futures_lite::future::block_on(pool.maintain());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let pool = &pool;
            s.spawn(move || {
                let mut held = VecDeque::with_capacity(HELD);
                for _ in 0..cycles {
                    if held.len() == HELD {
                        held.pop_front();
                    }
                    let lent = futures_lite::future::block_on(pool.get()).expect("a lend");
                    held.push_back(lent);
                }
            });
        }
    });
    let took = start.elapsed();
    println!(
        "{connections} connections, {threads} threads: {:.1} ns per lend+return",
        took.as_nanos() as f64 / (cycles as f64 * threads as f64)
    );
}
