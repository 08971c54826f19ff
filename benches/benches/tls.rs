//! `tls_echo`: a loopback TLS echo server (tokio-rustls, rcgen certificates), tasks doing
//! request/response (32 bytes each way) over TLS, on a 2-worker tokio runtime:
//!
//! * `netpool`: netpool-tokio's `tls(addr, config)` pool of 8 connections;
//! * `deadpool`, `bb8`, `netpool_handwritten`: the same pool size over one hand-written
//!   TLS manager (`TcpStream::connect` + `TlsConnector::connect`, no checks), so the
//!   last one tells netpool's pool from its TLS manager's checks;
//! * `handshake`: no pool, a new TCP connection and TLS handshake for every request
//!   (8 tasks, so 8 requests are in flight as with the pools; rustls's default client
//!   session cache makes most of them resumed TLS 1.3 handshakes).
//!
//! Each pool runs with 8 tasks (a get never waits) and 64 tasks (gets wait for one of the
//! 8 connections).
//!
//! Quick run: `cargo bench -p netpool-benches --bench tls -- --warm-up-time 1
//! --measurement-time 3`.

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use common::echo::{echo_server, round_trip};
use common::{Sample, Unchecked};
use criterion::{Criterion, criterion_group, criterion_main};
use netpool_benches::alloc::CountingAlloc;
use netpool_testkit::tls::{TlsServerOptions, client_config, server_config};
use netpool_tokio::rustls::ClientConfig;
use netpool_tokio::rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const TASKS: usize = 64;
const SIZE: usize = 8;

/// Starts a TLS echo server on a loopback port, on its own one-thread runtime.
fn tls_echo_server() -> SocketAddr {
    let config = server_config(&TlsServerOptions::default()).expect("a server config");
    let acceptor = TlsAcceptor::from(config);
    echo_server("tls-echo-server", move |stream| {
        let acceptor = acceptor.clone();
        async move { acceptor.accept(stream).await.ok() }
    })
}

/// The hand-written TLS connect the peers' managers and the no-pool run use.
async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> io::Result<TlsStream<TcpStream>> {
    let stream = common::echo::connect(addr).await?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    TlsConnector::from(config).connect(name, stream).await
}

/// 8 tasks complete `iters` requests between them, each on a new connection.
fn handshake_per_request(
    rt: &Runtime,
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    iters: u64,
) -> Sample {
    common::tasks!(rt, iters, SIZE, config, |config| {
        let mut conn = connect(addr, config.clone()).await.expect("connect");
        round_trip(&mut conn).await;
    })
}

fn tls(c: &mut Criterion) {
    let addr = tls_echo_server();
    let config = client_config(false, &[]);
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // netpool-tokio's TLS pool: defaults, maintenance running as a task.
    let netpool = rt.block_on(async {
        netpool_tokio::tls(addr.to_string(), config.clone())
            .server_name("localhost")
            .max_size(SIZE)
            .build()
            .expect("valid config")
    });
    // One hand-written manager (connect, no checks) for netpool and the peers, to tell
    // the pool from the manager.
    let handwritten = || {
        let config = config.clone();
        Unchecked(move || connect(addr, config.clone()))
    };
    let netpool_handwritten = netpool_core::Pool::builder()
        .max_size(SIZE)
        .build(handwritten())
        .expect("valid config");
    let deadpool = common::deadpool_of(handwritten(), SIZE);
    let bb8 = rt.block_on(common::bb8_of(handwritten(), SIZE));
    // Every pool opens its 8 connections (handshakes) before the measurements.
    common::warm_pools!(rt, SIZE; netpool, netpool_handwritten, deadpool, bb8);

    let (rt, config, netpool, handwritten, deadpool, bb8) = (
        &rt,
        &config,
        &netpool,
        &netpool_handwritten,
        &deadpool,
        &bb8,
    );
    common::echo::echo_group!(
        c, rt, "tls_echo", SIZE, TASKS, INTERLEAVED_TRIPS, INTERLEAVED_ROUNDS;
        "handshake" => move |iters| handshake_per_request(rt, addr, config, iters);
        "netpool" => netpool,
        "netpool_handwritten" => handwritten,
        "deadpool" => deadpool,
        "bb8" => bb8,
    );
}

/// Round trips per run of the interleaved comparison, and how many rounds (a handshake
/// costs about a millisecond of CPU: kept smaller than the TCP bench's).
const INTERLEAVED_TRIPS: u64 = 500;
const INTERLEAVED_ROUNDS: usize = 9;

criterion_group!(benches, tls);
criterion_main!(benches);
