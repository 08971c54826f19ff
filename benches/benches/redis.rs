//! The same Redis workload through netpool, deadpool-redis and bb8-redis: `tasks`
//! concurrent tokio tasks (1, 16, 128) each check a connection out of a pool of 16, send
//! `GET` for a 16-byte value, and return the connection. Every pool holds the `redis`
//! crate's `MultiplexedConnection` with the crate's default settings, pre-opened, on a
//! two-worker tokio runtime. Throughput is in GETs per second.
//!
//! Each pool runs with its defaults, which differ in what a checkout costs:
//!
//! * `netpool`: `is_valid` (PING) only for connections idle at least 1 s, so never here;
//! * `netpool_ping`: `check_idle_after(None)`, a PING on every checkout;
//! * `deadpool_redis`: `recycle` sends UNWATCH + PING (pipelined) on every checkout;
//! * `bb8_redis`: `test_on_check_out` is on: a PING on every checkout;
//! * `bb8_redis_notest`: `test_on_check_out(false)`.
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`); without one the
//! bench prints why and measures nothing.
//!
//! ```text
//! cargo bench -p netpool-benches --bench redis
//! cargo bench -p netpool-benches --bench redis -- --warm-up-time 1 --measurement-time 2
//! ```

use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use netpool_examples::redis::{RedisManager, redis_url};
use redis::AsyncConnectionConfig;
use redis::aio::ConnectionLike;

const MAX_SIZE: usize = 16;
const TASKS: [usize; 3] = [1, 16, 128];
const KEY: &str = "netpool:bench:redis:get";

fn main() {
    let url = redis_url();
    if let Err(e) = probe(&url) {
        eprintln!(
            "\n!!!!! redis bench SKIPPED: no Redis server at {url} ({e}). Start one, or set \
             NETPOOL_TEST_REDIS.\n"
        );
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    bench_get(&mut c, &url);
    c.final_summary();
}

/// A blocking `PING` with short timeouts.
fn probe(url: &str) -> Result<(), String> {
    let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| e.to_string())?;
    let addr = match info.addr() {
        redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        other => return Err(format!("not a TCP address: {other:?}")),
    };
    let sock = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).map_err(|e| e.to_string())?;
    (&buf == b"+PONG\r\n")
        .then_some(())
        .ok_or_else(|| "PING was not answered PONG".to_owned())
}

/// One GET on any connection.
async fn get(conn: &mut impl ConnectionLike) {
    let value: Vec<u8> = redis::cmd("GET")
        .arg(KEY)
        .query_async(conn)
        .await
        .expect("GET answered");
    assert_eq!(value.len(), 16);
}

/// Runs `iters` GETs split over `tasks` tasks, each doing checkout + GET + return via
/// `one`; returns the wall time.
fn run<F, Fut>(rt: &tokio::runtime::Runtime, tasks: usize, iters: u64, one: Arc<F>) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks as u64)
            .map(|t| {
                let one = one.clone();
                let share = iters / tasks as u64 + u64::from(t < iters % tasks as u64);
                tokio::spawn(async move {
                    for _ in 0..share {
                        one().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("bench task");
        }
        start.elapsed()
    })
}

fn bench_get(c: &mut Criterion, url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // The value every GET reads.
    rt.block_on(async {
        let client = redis::Client::open(url).expect("Redis URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis connection");
        let () = redis::cmd("SET")
            .arg(KEY)
            .arg(&[b'x'; 16][..])
            .query_async(&mut conn)
            .await
            .expect("SET");
    });

    let netpool = |check_idle_after| {
        let manager = RedisManager::new(url)
            .expect("Redis URL")
            .connection_config(AsyncConnectionConfig::new());
        netpool_core::Pool::builder()
            .max_size(MAX_SIZE)
            .check_idle_after(check_idle_after)
            .build(manager)
            .expect("netpool config")
    };
    let netpool_default = netpool(Some(Duration::from_secs(1)));
    let netpool_ping = netpool(None);
    let deadpool = {
        let mut cfg = deadpool_redis::Config::from_url(url);
        cfg.pool = Some(deadpool_redis::PoolConfig::new(MAX_SIZE));
        cfg.create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("deadpool-redis pool")
    };
    let bb8 = |test| {
        rt.block_on(async {
            let manager = bb8_redis::RedisConnectionManager::new(url).expect("Redis URL");
            bb8_redis::bb8::Pool::builder()
                .max_size(MAX_SIZE as u32)
                .test_on_check_out(test)
                .build(manager)
                .await
                .expect("bb8 pool")
        })
    };
    let bb8_default = bb8(true);
    let bb8_notest = bb8(false);

    // Open every pool's connections before measuring.
    rt.block_on(async {
        let mut held = Vec::new();
        for pool in [&netpool_default, &netpool_ping] {
            for _ in 0..MAX_SIZE {
                held.push(pool.get().await.expect("netpool get"));
            }
        }
        let mut held_dp = Vec::new();
        for _ in 0..MAX_SIZE {
            held_dp.push(deadpool.get().await.expect("deadpool get"));
        }
        for pool in [&bb8_default, &bb8_notest] {
            let mut held = Vec::new();
            for _ in 0..MAX_SIZE {
                held.push(pool.get().await.expect("bb8 get"));
            }
        }
    });

    let mut g = c.benchmark_group("redis_get");
    g.throughput(Throughput::Elements(1));
    for tasks in TASKS {
        let param = format!("{tasks}x{MAX_SIZE}");
        for (name, pool) in [
            ("netpool", &netpool_default),
            ("netpool_ping", &netpool_ping),
        ] {
            let pool = pool.clone();
            let one = Arc::new(move || {
                let pool = pool.clone();
                async move {
                    let mut conn = pool.get().await.expect("netpool get");
                    get(&mut *conn).await;
                }
            });
            g.bench_with_input(BenchmarkId::new(name, &param), &tasks, |b, &tasks| {
                b.iter_custom(|iters| run(&rt, tasks, iters, one.clone()));
            });
        }
        {
            let pool = deadpool.clone();
            let one = Arc::new(move || {
                let pool = pool.clone();
                async move {
                    let mut conn = pool.get().await.expect("deadpool get");
                    get(&mut conn).await;
                }
            });
            g.bench_with_input(
                BenchmarkId::new("deadpool_redis", &param),
                &tasks,
                |b, &tasks| {
                    b.iter_custom(|iters| run(&rt, tasks, iters, one.clone()));
                },
            );
        }
        for (name, pool) in [
            ("bb8_redis", &bb8_default),
            ("bb8_redis_notest", &bb8_notest),
        ] {
            let pool = pool.clone();
            let one = Arc::new(move || {
                let pool = pool.clone();
                async move {
                    let mut conn = pool.get().await.expect("bb8 get");
                    get(&mut *conn).await;
                }
            });
            g.bench_with_input(BenchmarkId::new(name, &param), &tasks, |b, &tasks| {
                b.iter_custom(|iters| run(&rt, tasks, iters, one.clone()));
            });
        }
    }
    g.finish();
}
