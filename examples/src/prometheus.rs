//! What the `metrics` example serves: a Prometheus recorder for the `metrics` facade, a
//! small HTTP endpoint that answers every request with the scraped text, and a demo pool
//! whose instruments it shows.
//!
//! ```text
//! cargo run --release --example metrics -- [127.0.0.1:9000]
//! curl -s http://127.0.0.1:9000/metrics
//! ```

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use netpool_core::{Pool, Pooled};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::memory::Mem;

/// Every instrument a netpool pool records, as the Prometheus exporter names them
/// (dots become underscores), with its Prometheus type.
pub const INSTRUMENTS: [(&str, &str); 13] = [
    ("db_client_connection_count", "gauge"),
    ("db_client_connection_max", "gauge"),
    ("db_client_connection_idle_min", "gauge"),
    ("db_client_connection_pending_requests", "gauge"),
    ("db_client_connection_timeouts", "counter"),
    ("db_client_connection_wait_time", "histogram"),
    ("db_client_connection_use_time", "histogram"),
    ("db_client_connection_create_time", "histogram"),
    ("netpool_connection_created", "counter"),
    ("netpool_connection_closed", "counter"),
    ("netpool_connect_errors", "counter"),
    ("netpool_gets_unavailable", "counter"),
    ("netpool_backoff_active", "gauge"),
];

/// Installs a Prometheus recorder as the process's `metrics` recorder (before any pool is
/// built: a pool registers its histograms when it is built), with histogram buckets in
/// seconds from 100 µs to 10 s.
///
/// # Errors
///
/// If the buckets are refused, or another recorder is installed already.
pub fn install() -> Result<PrometheusHandle, Box<dyn std::error::Error + Send + Sync>> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[0.0001, 0.001, 0.01, 0.1, 1.0, 10.0])?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    Ok(handle)
}

/// Answers every HTTP request on `listener` with `handle`'s text (a minimal HTTP/1.1
/// server: enough for Prometheus and curl). Runs until the task is dropped.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            // Read the request head (bounded); its path does not matter.
            let mut buf = vec![0u8; 4096];
            let mut read = 0;
            while read < buf.len() {
                match stream.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read += n,
                }
                if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let body = handle.render();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Builds the demo pool ("demo", 4 connections, holders tracked so `use_time` is
/// recorded), and runs a short workload on it: 16 tasks for `busy`, then one get that
/// times out while every connection is held. Then one maintenance pass, which samples
/// the gauges and counters.
///
/// # Errors
///
/// If the pool cannot be built.
pub async fn demo(busy: Duration) -> Result<Pool<Mem>, Box<dyn std::error::Error + Send + Sync>> {
    let pool = Pool::builder()
        .name("demo")
        .server_address("memory:0")
        .max_size(4)
        .min_idle(Some(1))
        .leak_threshold(Duration::from_secs(10))
        // Every 50th use "breaks", so closes show up.
        .build(Mem {
            breaks_every: Some(50),
        })?;
    let until = tokio::time::Instant::now() + busy;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                while tokio::time::Instant::now() < until {
                    if let Ok(mut conn) = pool.get().await {
                        *conn += 1;
                        tokio::time::sleep(Duration::from_micros(200)).await;
                        drop(conn);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.get().await?);
    }
    if let Err(e) = pool.get_timeout(Duration::from_millis(10)).await {
        if let Some(report) = pool.last_timeout() {
            eprintln!("{e}; {report}");
        }
    }
    Pooled::discard(held.pop().expect("four held"));
    drop(held);
    pool.maintain().await;
    Ok(pool)
}
