//! What one PostgreSQL statement costs through netpool-postgres and deadpool-postgres,
//! measured so that a shared machine's load barely moves it: the CPU time and the
//! context switches of this process (every thread) and of the 16 server backends that
//! serve each pool, per statement, summed over interleaved rounds; and beside them the
//! wall-clock rates and the median of each round's ratio to deadpool's round next to it.
//!
//! `pg_cost <workload> <tasks> <rounds> <total>`: workload `select1` or `prepared`, as in
//! the `postgres` bench (defaults: select1, 16 tasks, 21 rounds of 4000 statements), on
//! the benches' two-worker runtime. The server must run on this machine (its backends'
//! `/proc/<pid>/schedstat` and `status` are read); it is `NETPOOL_TEST_POSTGRES`, or
//! `postgres://postgres@127.0.0.1:5432/test`.
//!
//! When the machine has no idle CPU (both pools keep it busy: the server's backends take
//! about two thirds of it), the rate follows the CPU time per statement, which this
//! prints with a spread of a few percent where the rates spread by ten or more.

#[path = "../benches/common/mod.rs"]
mod common;

use common::live::{self, One, Split};
use common::pg::{self, MAX_SIZE, Workload};

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = match args.next().as_deref() {
        Some("prepared") => Workload::Prepared,
        _ => Workload::Select1,
    };
    let tasks: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(16);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(21);
    let total: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(4000);
    let url = pg::url();
    let rt = live::runtime();
    let pools: Vec<(&str, One, Vec<u32>)> = rt.block_on(async {
        let netpool = pg::netpool(&url).await;
        let deadpool = pg::deadpool(&url).await;
        let mut held = Vec::with_capacity(MAX_SIZE);
        for _ in 0..MAX_SIZE {
            held.push(netpool.get().await.expect("netpool get"));
        }
        let netpool_pids = backend_pids(held.iter().map(|s| &***s)).await;
        drop(held);
        let mut held = Vec::with_capacity(MAX_SIZE);
        for _ in 0..MAX_SIZE {
            held.push(deadpool.get().await.expect("deadpool get"));
        }
        let deadpool_pids = backend_pids(held.iter().map(|s| &***s)).await;
        drop(held);
        vec![
            ("netpool", pg::netpool_one(&netpool, workload), netpool_pids),
            (
                "deadpool",
                pg::deadpool_one(&deadpool, workload),
                deadpool_pids,
            ),
        ]
    });
    let this = [std::process::id()];
    let mut rates = vec![Vec::with_capacity(rounds); pools.len()];
    let mut server = vec![Cost::default(); pools.len()];
    let mut client = vec![Cost::default(); pools.len()];
    live::rotate(rounds, pools.len(), |i| {
        let (s0, c0) = (Cost::of(&pools[i].2), Cost::of(&this));
        let (elapsed, _) = live::run(&rt, tasks, total, Split::Claimed, &pools[i].1);
        let (s1, c1) = (Cost::of(&pools[i].2), Cost::of(&this));
        rates[i].push(total as f64 / elapsed.as_secs_f64());
        server[i].add(s1.since(s0));
        client[i].add(c1.since(c0));
    });
    let statements = (rounds as u64 * total) as f64;
    let last = pools.len() - 1;
    println!(
        "{rounds} rounds of {total} statements, {tasks} tasks; per statement: CPU µs \
         (schedstat) and voluntary/involuntary context switches"
    );
    println!(
        "| pool | server µs | server switches | client µs | client switches | total µs | rate | round ratio to {} |",
        pools[last].0
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, (name, _, _)) in pools.iter().enumerate() {
        let (s, c) = (server[i], client[i]);
        let mut ratios: Vec<f64> = rates[i]
            .iter()
            .zip(&rates[last])
            .map(|(r, base)| r / base)
            .collect();
        println!(
            "| {name} | {:.2} | {:.3}/{:.3} | {:.2} | {:.3}/{:.3} | {:.2} | {:.1}k/s | {:.3} |",
            s.nanos as f64 / statements / 1e3,
            s.voluntary as f64 / statements,
            s.involuntary as f64 / statements,
            c.nanos as f64 / statements / 1e3,
            c.voluntary as f64 / statements,
            c.involuntary as f64 / statements,
            (s.nanos + c.nanos) as f64 / statements / 1e3,
            common::median(&mut rates[i].clone()) / 1e3,
            common::median(&mut ratios),
        );
    }
}

/// The backend process of each session (`pg_backend_pid()`).
async fn backend_pids(sessions: impl Iterator<Item = &tokio_postgres::Client>) -> Vec<u32> {
    let mut pids = Vec::new();
    for session in sessions {
        let row = session
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pg_backend_pid");
        pids.push(u32::try_from(row.get::<_, i32>(0)).expect("a pid"));
    }
    pids
}

/// CPU time and context switches, summed over processes' threads.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    nanos: u64,
    voluntary: u64,
    involuntary: u64,
}

impl Cost {
    /// The totals so far of every thread of `pids` (a process gone counts nothing).
    fn of(pids: &[u32]) -> Self {
        let mut cost = Self::default();
        for pid in pids {
            let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for thread in threads.flatten() {
                let dir = thread.path();
                // schedstat: time on CPU (ns), time waiting to run, timeslices.
                if let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) {
                    cost.nanos += field(s.split_whitespace().next());
                }
                if let Ok(s) = std::fs::read_to_string(dir.join("status")) {
                    for line in s.lines() {
                        if let Some(n) = line.strip_prefix("voluntary_ctxt_switches:") {
                            cost.voluntary += field(Some(n.trim()));
                        } else if let Some(n) = line.strip_prefix("nonvoluntary_ctxt_switches:") {
                            cost.involuntary += field(Some(n.trim()));
                        }
                    }
                }
            }
        }
        cost
    }

    fn since(self, before: Self) -> Self {
        Self {
            nanos: self.nanos.saturating_sub(before.nanos),
            voluntary: self.voluntary.saturating_sub(before.voluntary),
            involuntary: self.involuntary.saturating_sub(before.involuntary),
        }
    }

    fn add(&mut self, other: Self) {
        self.nanos += other.nanos;
        self.voluntary += other.voluntary;
        self.involuntary += other.involuntary;
    }
}

fn field(s: Option<&str>) -> u64 {
    s.and_then(|s| s.parse().ok()).unwrap_or(0)
}
