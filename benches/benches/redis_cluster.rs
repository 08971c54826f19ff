//! The same Redis Cluster workload through the `redis` crate's own async cluster client
//! (`cluster-async`, one multiplexed connection per node) and through netpool's cluster
//! client (`netpool_redis::cluster`): with shared connections per node for plain commands
//! (`netpool-shared-N`: N multiplexed connections per node, the default being 2) and with
//! exclusive connections only (`netpool-keyed`: a `KeyedPool` keyed by node, 16
//! connections per node). `tasks` concurrent tokio tasks (16, 128) each send `GET` for
//! keys spread over every shard. Throughput is in GETs per second, on a two-worker
//! runtime; the interleaved table gives each client's ratio to `cluster-async` and its
//! fairness: in those rounds the tasks claim GETs from a shared total, and the lowest
//! Jain index of the rounds over the GETs each task completed is printed (1.0 when every
//! task did as many).
//!
//! The shared connections have `TCP_NODELAY` off (the client's default, as in
//! `cluster-async`); with `NETPOOL_CLUSTER_NODELAY=1` the columns
//! `netpool-shared-N-nodelay` add the same clients with it on
//! (`ClusterBuilder::tcp_nodelay(true)`), in the same interleaved rounds.
//!
//! The cluster is the one of `.ci/redis-cluster.sh` (127.0.0.1:7100-7105), started by the
//! bench if it is not running; without `redis-server` the bench says so and measures
//! nothing.
//!
//! ```text
//! cargo bench -p netpool-benches --bench redis_cluster -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! `NETPOOL_CLUSTER_PER_CONN=N` sets the lends per shared connection
//! (`max_concurrent_per_connection`; the client's default if unset).

mod common;

use common::live::{self, One, Split, one};
use criterion::Criterion;
use netpool_clients::cluster::Cluster;

use self::cpu::cpu_of;

mod cpu;

const TASKS: [usize; 2] = [16, 128];
const KEYS: usize = 300;
const PER_NODE: usize = 16;

fn key(i: u64) -> String {
    format!("netpool:bench:cluster:{}", i % KEYS as u64)
}

fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/redis-cluster.sh");
    let started = std::process::Command::new("bash")
        .args([script, "start"])
        .output();
    if !started.as_ref().is_ok_and(|o| o.status.success()) {
        live::skipped(
            "redis_cluster",
            format!("could not start the cluster ({started:?})"),
        );
        return;
    }
    let rt = live::runtime();
    let (keyed, shared_1, shared_2, nodelay, redis) = rt.block_on(async {
        // `NETPOOL_CLUSTER_PER_CONN`: the lends per shared connection (the client's
        // default if unset).
        let per_conn: Option<usize> = std::env::var("NETPOOL_CLUSTER_PER_CONN")
            .ok()
            .and_then(|v| v.parse().ok());
        let build = |shared: usize, nodelay: Option<bool>| {
            let mut builder = Cluster::builder(["127.0.0.1:7100"])
                .max_per_node(PER_NODE)
                .max_total(3 * PER_NODE)
                .shared_per_node(shared);
            if let Some(n) = per_conn {
                builder = builder.max_concurrent_per_connection(n);
            }
            if let Some(on) = nodelay {
                builder = builder.tcp_nodelay(on);
            }
            builder.build().expect("cluster client")
        };
        let (cluster, shared_1, shared_2) = (build(0, None), build(1, None), build(2, None));
        let nodelay = live::env_flag("NETPOOL_CLUSTER_NODELAY")
            .then(|| (build(2, Some(true)), build(1, Some(true))));
        for i in 0..KEYS as u64 {
            cluster
                .set(key(i).as_bytes(), b"0123456789abcdef")
                .await
                .expect("SET");
        }
        let client = redis::cluster::ClusterClient::new(vec!["redis://127.0.0.1:7100/"])
            .expect("redis cluster client");
        let conn = client
            .get_async_connection()
            .await
            .expect("redis cluster connection");
        (cluster, shared_1, shared_2, nodelay, conn)
    });
    let netpool_one = |netpool: Cluster| -> One {
        one(netpool, |cluster, i| async move {
            let v = cluster.get(key(i).as_bytes()).await.expect("GET");
            assert_eq!(v.map(|v| v.len()), Some(16));
        })
    };
    let redis_one = one(redis, |mut conn, i| async move {
        live::redis_get(&mut conn, &key(i)).await;
    });
    let mut clients = vec![
        ("redis-cluster-async", redis_one),
        ("netpool-shared-2", netpool_one(shared_2)),
        ("netpool-shared-1", netpool_one(shared_1)),
    ];
    if let Some((nodelay_2, nodelay_1)) = nodelay {
        clients.push(("netpool-shared-2-nodelay", netpool_one(nodelay_2)));
        clients.push(("netpool-shared-1-nodelay", netpool_one(nodelay_1)));
    }
    clients.push(("netpool-keyed", netpool_one(keyed)));

    let mut c = Criterion::default().configure_from_args();
    let param = |tasks: usize| tasks.to_string();
    live::bench_group(
        &mut c,
        &rt,
        "redis_cluster_get",
        &TASKS,
        param,
        &clients,
        Split::Even,
    );
    interleaved(&rt, &clients);
    c.final_summary();
}

/// CPU seconds the cluster's six `redis-server`s used so far (their pid files are in
/// `.ci/redis-cluster.sh`'s directory).
fn servers_cpu() -> f64 {
    let dir = std::env::var("NETPOOL_CLUSTER_DIR").unwrap_or_else(|_| {
        let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".to_owned());
        format!("{tmp}/netpool-redis-cluster")
    });
    (7100..=7105)
        .filter_map(|port| std::fs::read_to_string(format!("{dir}/{port}/redis.pid")).ok())
        .map(|pid| cpu_of(pid.trim()))
        .sum()
}

/// Every client in turn, round by round (the order rotating), the tasks claiming GETs
/// from a shared total; prints the median rates, the lowest fairness of the rounds
/// (Jain's index over the GETs each task completed) and the CPU microseconds per GET of
/// this process and of the six servers.
fn interleaved(rt: &tokio::runtime::Runtime, clients: &[(&str, One)]) {
    const ROUNDS: usize = 7;
    const GETS: u64 = 20_000;
    println!(
        "\nredis_cluster_get, interleaved: median GETs/s of {ROUNDS} rounds of {GETS} GETs \
         claimed by the tasks (x: ratio to the first; fair: lowest Jain index of the rounds \
         over each task's GETs; cpu: CPU microseconds per GET over all rounds, this client \
         process / the six redis-servers); load average {}",
        load_average()
    );
    live::header("tasks", clients.iter().map(|(name, _)| name));
    for tasks in TASKS {
        let mut rates = vec![Vec::with_capacity(ROUNDS); clients.len()];
        // (client, servers) CPU seconds per client, over all rounds.
        let mut cpu = vec![(0.0, 0.0); clients.len()];
        let mut fair = vec![1.0f64; clients.len()];
        live::rotate(ROUNDS, clients.len(), |i| {
            let (own, servers) = (cpu_of("self"), servers_cpu());
            let (elapsed, counts) = live::run(rt, tasks, GETS, Split::Claimed, &clients[i].1);
            cpu[i].0 += cpu_of("self") - own;
            cpu[i].1 += servers_cpu() - servers;
            rates[i].push(GETS as f64 / elapsed.as_secs_f64());
            fair[i] = fair[i].min(live::jain(&counts));
        });
        let medians = live::medians(rates);
        print!("| {tasks} |");
        let gets = (ROUNDS as u64 * GETS) as f64;
        for ((m, (own, servers)), fair) in medians.iter().zip(&cpu).zip(&fair) {
            print!(
                " {:.1}k ({:.2}x, fair {:.3}, cpu {:.1}/{:.1}) |",
                m / 1000.0,
                m / medians[0],
                fair,
                own * 1e6 / gets,
                servers * 1e6 / gets
            );
        }
        println!();
    }
    println!("load average after: {}", load_average());
}

/// The 1, 5 and 15 minute load averages (Linux: `/proc/loadavg`), or `?`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".to_owned(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}
