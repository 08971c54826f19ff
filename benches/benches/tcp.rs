//! `tcp_echo`: a loopback echo server, 64 tasks doing request/response (32 bytes each way)
//! through a pool of 8 connections, on a 2-worker tokio runtime. The same workload
//! through netpool (netpool-tokio's `tcp()` pool), deadpool and bb8 with equivalent TCP
//! managers, and the raw round trip
//! with no pool (8 tasks, one connection each: the same 8 requests in flight), so the
//! share of time the pool adds can be read off. Each pool also runs with 8 tasks (one per
//! connection, so a get never waits): the cost of the pool itself, without the hand-offs
//! between tasks that 64 tasks on 8 connections need. A fourth pool, "netpool, no return
//! peek", is netpool with the TCP manager's `has_broken` peek turned off: the peek's cost.
//!
//! Quick run: `cargo bench -p netpool-benches --bench tcp -- --warm-up-time 1
//! --measurement-time 2`.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use common::echo::{connect, echo_server, round_trip};
use common::{Meter, Sample, Unchecked, claim};
use criterion::{Criterion, criterion_group, criterion_main};
use netpool_benches::alloc::CountingAlloc;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const TASKS: usize = 64;
const SIZE: usize = 8;

/// netpool-tokio's TCP manager with the peek on return turned off (`has_broken` always
/// `false`, as before it peeked): the cost of noticing connections that died while busy.
struct NoPeek(netpool_tokio::TcpManager);

impl netpool_core::Manager for NoPeek {
    type Connection = TcpStream;
    type Error = <netpool_tokio::TcpManager as netpool_core::Manager>::Error;

    fn connect(&self) -> impl Future<Output = Result<TcpStream, Self::Error>> + Send {
        self.0.connect()
    }
    fn is_valid(
        &self,
        conn: &mut TcpStream,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.is_valid(conn)
    }
    fn has_broken(&self, _: &mut TcpStream) -> bool {
        false
    }
}

fn tcp(c: &mut Criterion) {
    let addr = echo_server("echo-server", |stream| async move { Some(stream) });
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // Raw: 8 tasks, each owning a connection; 8 requests in flight, like the pools.
    let streams: Vec<TcpStream> = rt.block_on(async {
        let mut streams = Vec::new();
        for _ in 0..SIZE {
            streams.push(connect(addr).await.expect("connect"));
        }
        streams
    });
    let streams = Arc::new(tokio::sync::Mutex::new(streams));

    // netpool-tokio's pool: its TcpManager, defaults, maintenance running as a task.
    let netpool = rt.block_on(async {
        netpool_tokio::tcp(addr.to_string())
            .max_size(SIZE)
            .build()
            .expect("valid config")
    });
    let no_peek = netpool_core::Pool::builder()
        .max_size(SIZE)
        .build(NoPeek(netpool_tokio::TcpManager::new(addr.to_string())))
        .expect("valid config");
    // The peers' TCP manager: connect, no checks.
    let plain = || Unchecked(move || connect(addr));
    let deadpool = common::deadpool_of(plain(), SIZE);
    let bb8 = rt.block_on(common::bb8_of(plain(), SIZE));
    common::warm_pools!(rt, SIZE; netpool, no_peek, deadpool, bb8);

    let (rt, streams, netpool, no_peek, deadpool, bb8) =
        (&rt, &streams, &netpool, &no_peek, &deadpool, &bb8);
    common::echo::echo_group!(
        c, rt, "tcp_echo", SIZE, TASKS, INTERLEAVED_TRIPS, INTERLEAVED_ROUNDS;
        "raw" => move |iters| raw_round_trips(rt, streams, iters);
        "netpool" => netpool,
        "netpool, no return peek" => no_peek,
        "deadpool" => deadpool,
        "bb8" => bb8,
    );
}

/// 8 tasks, each with its own connection, complete `iters` round trips between them.
fn raw_round_trips(
    rt: &Runtime,
    streams: &tokio::sync::Mutex<Vec<TcpStream>>,
    iters: u64,
) -> Sample {
    let counter = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let mut owned = streams.lock().await;
        let taken: Vec<TcpStream> = owned.drain(..).collect();
        let meter = Meter::start();
        let handles: Vec<_> = taken
            .into_iter()
            .map(|mut stream| {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut done = 0;
                    loop {
                        let n = claim(&counter, iters);
                        if n == 0 {
                            break (stream, done);
                        }
                        for _ in 0..n {
                            round_trip(&mut stream).await;
                        }
                        done += n;
                    }
                })
            })
            .collect();
        let mut per_task = Vec::with_capacity(SIZE);
        for handle in handles {
            let (stream, done) = handle.await.expect("task");
            owned.push(stream);
            per_task.push(done);
        }
        meter.stop(iters, per_task)
    })
}

/// Round trips per run of the interleaved comparison, and how many rounds.
const INTERLEAVED_TRIPS: u64 = 2_000;
const INTERLEAVED_ROUNDS: usize = 15;

criterion_group!(benches, tcp);
criterion_main!(benches);
