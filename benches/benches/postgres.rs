//! The same PostgreSQL workloads through netpool-postgres, deadpool-postgres and
//! bb8-postgres: `tasks` concurrent tokio tasks (16, 128) each check a session out of a
//! pool of 16, run one statement, and return the session. Every pool holds
//! tokio-postgres sessions over plain TCP, pre-opened, on a two-worker tokio runtime.
//! Throughput is in statements per second.
//!
//! Workloads:
//!
//! * `postgres_select1`: `SELECT 1` (the simple query protocol: one round trip);
//! * `postgres_prepared`: `SELECT $1::int8 + 1` as a prepared statement, with an int8
//!   parameter: `prepare_cached` for netpool-postgres and deadpool-postgres (a cache hit,
//!   then one round trip); bb8-postgres has no statement cache, so it `prepare`s on every
//!   use (two round trips), as its users write it.
//!
//! Each pool runs with its defaults:
//!
//! * `netpool`: `RecyclingMethod::Fast` on every checkout (`is_closed`, and a `ROLLBACK`
//!   only if a transaction was left open: never here);
//! * `deadpool`: `RecyclingMethod::Fast` on every checkout (`is_closed`);
//! * `bb8`: `test_on_check_out` is on: an empty query (a round trip) on every checkout;
//! * `bb8_notest`: `test_on_check_out(false)`.
//!
//! After criterion's groups the bench runs every pool again, interleaved round by round
//! (11 rounds, `NETPOOL_BENCH_ROUNDS=n` for more), and prints a table of median rates
//! with fairness: each task claims statements from a shared total, and fairness is Jain's
//! index over the statements each task completed (and, for netpool, the fewest a task
//! completed over the most). The ratio to the best peer (the peer with the highest median
//! rate) is the median of the rounds' paired ratios, as in the other benches' interleaved
//! tables: a round's pools ran within seconds of each other, so load from other
//! processes mostly cancels out of their ratio.
//!
//! With `NETPOOL_PG_COUNTS=1` the interleaved rounds also print, to stderr, each round's
//! fairness and the statements every task completed.
//!
//! The server is `NETPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`);
//! without one the bench prints why and measures nothing.
//!
//! ```text
//! cargo bench -p netpool-benches --bench postgres
//! cargo bench -p netpool-benches --bench postgres -- --warm-up-time 1 --measurement-time 3
//! ```

mod common;

use common::live::{self, One, Split};
use common::pg::{self, MAX_SIZE, Workload};
use criterion::Criterion;

const TASKS: [usize; 2] = [16, 128];

fn main() {
    let url = pg::url();
    let rt = live::runtime();
    if let Err(e) = rt.block_on(pg::probe(&url)) {
        live::skipped(
            "postgres",
            format!(
                "no PostgreSQL server at {url} ({e}). Start one, or set NETPOOL_TEST_POSTGRES."
            ),
        );
        return;
    }
    let mut c = live::criterion();
    bench(&mut c, &rt, &url);
    c.final_summary();
}

/// The pools, each with every session open.
struct Pools {
    netpool: netpool_postgres::Pool,
    deadpool: deadpool_postgres::Pool,
    bb8: pg::Bb8Pool,
    bb8_notest: pg::Bb8Pool,
}

impl Pools {
    fn open(rt: &tokio::runtime::Runtime, url: &str) -> Self {
        rt.block_on(async {
            Self {
                netpool: pg::netpool(url).await,
                deadpool: pg::deadpool(url).await,
                bb8: pg::bb8(url, true).await,
                bb8_notest: pg::bb8(url, false).await,
            }
        })
    }

    /// Every pool, running `workload`.
    fn ones(&self, workload: Workload) -> Vec<(&'static str, One)> {
        vec![
            ("netpool", pg::netpool_one(&self.netpool, workload)),
            ("deadpool", pg::deadpool_one(&self.deadpool, workload)),
            ("bb8", pg::bb8_one(&self.bb8, workload)),
            ("bb8_notest", pg::bb8_one(&self.bb8_notest, workload)),
        ]
    }
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, url: &str) {
    let pools = Pools::open(rt, url);
    let workloads = [
        ("postgres_select1", pools.ones(Workload::Select1)),
        ("postgres_prepared", pools.ones(Workload::Prepared)),
    ];
    for (group, ones) in &workloads {
        let param = |tasks| format!("{tasks}x{MAX_SIZE}");
        live::bench_group(c, rt, group, &TASKS, param, ones, Split::Claimed);
    }
    if !live::listing() {
        for (group, ones) in &workloads {
            interleaved(rt, group, ones);
        }
    }
}

/// Every pool in turn, round by round (the order rotating), so that a noisy neighbour
/// on a shared machine hits them all alike; prints median rates, the ratio to the best
/// peer, and the lowest fairness seen: Jain's index over the statements each task claimed
/// and completed out of the round's shared total (1.0 when every task did as many), and
/// for netpool also the fewest over the most (harsher: one slow task sets it).
fn interleaved(rt: &tokio::runtime::Runtime, group: &str, pools: &[(&str, One)]) {
    let rounds = common::rounds(11);
    // Rounds of a second or so (300 statements per task at 128 tasks): a task the
    // runtime leaves unpolled for a few milliseconds, or one statement more or less, is
    // not a fairness loss of its own.
    const TOTAL: u64 = 40_000;
    println!(
        "\n{group}, interleaved: median statements/s of {rounds} rounds of {TOTAL}; \
         netpool / best peer = median of the rounds' ratios to the peer with the highest \
         median; fairness = lowest Jain index over rounds (min/max: fewest over most)"
    );
    let names = pools.iter().map(|(name, _)| name.to_string());
    let fairness_names = pools.iter().map(|(name, _)| format!("fairness {name}"));
    let columns = names
        .chain(["netpool / best peer".to_owned()])
        .chain(fairness_names)
        .chain([format!("min/max {}", pools[0].0)]);
    live::header("tasks x max_size", columns);
    let print_counts = live::env_flag("NETPOOL_PG_COUNTS");
    for tasks in TASKS {
        let mut rates = vec![Vec::with_capacity(rounds); pools.len()];
        let mut fairness = vec![1.0f64; pools.len()];
        let mut min_max = 1.0f64;
        live::rotate(rounds, pools.len(), |i| {
            let (elapsed, counts) = live::run(rt, tasks, TOTAL, Split::Claimed, &pools[i].1);
            rates[i].push(TOTAL as f64 / elapsed.as_secs_f64());
            let jain = live::jain(&counts);
            fairness[i] = fairness[i].min(jain);
            if i == 0 {
                min_max = min_max.min(live::min_over_max(&counts));
            }
            if print_counts {
                eprintln!("{} {tasks}: {jain:.3} {counts:?}", pools[i].0);
            }
        });
        let medians = live::medians(rates.clone());
        let paired = live::paired_to_best(&rates, &medians);
        print!("| {tasks}x{MAX_SIZE} |");
        medians.iter().for_each(|m| print!(" {:.1}k |", m / 1000.0));
        print!(" {paired:.2}x |");
        fairness.iter().for_each(|f| print!(" {f:.3} |"));
        println!(" {min_max:.2} |");
    }
}
