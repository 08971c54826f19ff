//! A fixed number of PostgreSQL statements through one pool, for
//! `valgrind --tool=callgrind` or `perf stat` (the client's cost per statement, which a
//! shared machine's noise does not change): `pg_driver <pool> <workload> <tasks> <count>`.
//!
//! Pools: `netpool` (netpool-postgres, defaults), `deadpool` (deadpool-postgres,
//! defaults), `bb8` (bb8-postgres, defaults). Workloads: `select1` (`SELECT 1`, simple
//! query protocol), `prepared` (`SELECT $1::int8 + 1` through the statement cache; bb8
//! prepares every time). Every pool has 16 sessions, opened before the count starts, on
//! a current-thread tokio runtime (deterministic under callgrind), or with
//! `PG_DRIVER_THREADS=n` on a runtime of `n` workers (the benches use 2).
//!
//! It prints the size of the pool's `get` future (copied whenever a future awaiting it
//! moves) and the rate.
//!
//! Run twice with different counts and subtract to remove the set-up:
//! `valgrind --tool=callgrind target/release/examples/pg_driver netpool select1 16 2000`.
//! The server is `NETPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).

#[path = "../benches/common/mod.rs"]
mod common;

use common::live::{self, One, Split};
use common::pg::{self, Workload};

fn main() {
    let mut args = std::env::args().skip(1);
    let pool = args.next().unwrap_or_else(|| "netpool".to_owned());
    let workload = args.next().unwrap_or_else(|| "select1".to_owned());
    let tasks: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(16);
    let count: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let url = pg::url();
    // PG_DRIVER_THREADS=2: the benches' two-worker runtime instead.
    let rt = match std::env::var("PG_DRIVER_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .expect("tokio runtime");
    let one = rt.block_on(make(&pool, &workload, &url));
    let (elapsed, _) = live::run(&rt, tasks, count, Split::Claimed, &one);
    let rate = count as f64 / elapsed.as_secs_f64();
    println!("{pool} {workload} {tasks} tasks: {rate:.0} statements/s");
}

/// `pool` running `workload`, every session open; prints the size of its `get` future.
async fn make(pool: &str, workload: &str, url: &str) -> One {
    let workload = match workload {
        "prepared" => Workload::Prepared,
        _ => Workload::Select1,
    };
    match pool {
        "netpool" => {
            let p = pg::netpool(url).await;
            eprintln!(
                "netpool: get() is a future of {} bytes",
                size_of_val(&p.get())
            );
            pg::netpool_one(&p, workload)
        }
        "deadpool" => {
            let p = pg::deadpool(url).await;
            eprintln!(
                "deadpool: get() is a future of {} bytes",
                size_of_val(&p.get())
            );
            pg::deadpool_one(&p, workload)
        }
        "bb8" => pg::bb8_one(&pg::bb8(url, true).await, workload),
        other => panic!("unknown pool {other}: netpool, deadpool or bb8"),
    }
}
