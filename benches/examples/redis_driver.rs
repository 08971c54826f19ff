//! A fixed number of Redis GETs through one pool, 128 tasks on a pool of 16 (the Redis
//! bench's tail table), on the benches' two-worker runtime, for `perf record` or for
//! alternated timing: `redis_driver <pool> <count> [rounds]`.
//!
//! Pools: `netpool` (netpool-redis, defaults), `mutex` (a tokio `Semaphore` and a
//! `Mutex<Vec<_>>` over the same manager), `deadpool` (deadpool over the same manager,
//! `recycle` a no-op). Every pool holds 16 of the `redis` crate's multiplexed connections
//! with its default settings. Prints the size of the future each GET boxes (the bench
//! boxes every operation, as a server boxing its requests would), then each round's GETs
//! per second and the p99 in µs.
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Duration;

use common::live::{self, One, REDIS_KEY};
use netpool_clients::redis::redis_url;

const TASKS: usize = 128;
const MAX_SIZE: usize = 16;

fn main() {
    let mut args = std::env::args().skip(1);
    let pool = args.next().unwrap_or_else(|| "netpool".to_owned());
    let count: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let url = redis_url();
    let rt = live::runtime();
    rt.block_on(live::redis_set(&url, REDIS_KEY)).expect("SET");
    let op: One = match pool.as_str() {
        "netpool" => {
            let p = live::redis_netpool(&rt, &url, MAX_SIZE, |b| {
                b.check_idle_after(Some(Duration::from_secs(1)))
            });
            // Every connection open before the count starts.
            let held: Vec<_> = rt.block_on(async {
                let mut v = Vec::new();
                for _ in 0..MAX_SIZE {
                    v.push(p.get().await.expect("connection"));
                }
                v
            });
            drop(held);
            live::redis_netpool_one(&p)
        }
        "mutex" => live::redis_mutex_one(&rt, &url, MAX_SIZE),
        "deadpool" => live::redis_deadpool_noping_one(&url, MAX_SIZE),
        other => panic!("unknown pool {other}: netpool, mutex or deadpool"),
    };
    // What each GET boxes: the pool's `get` future and the GET's, one after the other.
    eprintln!(
        "{pool}: a GET's boxed future is {} bytes",
        size_of_val(&*op(0))
    );
    for _ in 0..rounds {
        let (elapsed, mut lat) = live::run_timed(&rt, TASKS, count, &op);
        lat.sort_unstable();
        let p99 = live::quantile(&lat, 0.99);
        println!(
            "{pool}: {:.0} GETs/s, p99 {p99} µs",
            count as f64 / elapsed.as_secs_f64()
        );
    }
}
