//! `get_blocking` on a pool of tokio streams, as its docs describe: it works from
//! `spawn_blocking` and from a thread that entered the runtime; from a plain thread outside
//! the runtime, opening a connection panics with tokio's "no reactor" message.

use std::time::Duration;

use netpool_testkit::EchoServer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn pool(rt: &tokio::runtime::Runtime, server: &EchoServer) -> netpool_tokio::Pool {
    let _inside = rt.enter(); // maintenance is spawned on it
    netpool_tokio::tcp(server.addr())
        .max_size(2)
        .wait_timeout(Some(Duration::from_secs(10)))
        .build()
        .unwrap()
}

#[test]
fn from_spawn_blocking_or_an_entered_thread_it_connects() {
    let rt = runtime();
    let server = EchoServer::start().unwrap();
    let pool = pool(&rt, &server);

    let p = pool.clone();
    let got = rt.block_on(async move {
        tokio::task::spawn_blocking(move || p.get_blocking().map(drop))
            .await
            .unwrap()
    });
    assert!(got.is_ok(), "{got:?}");

    let (p, handle) = (pool.clone(), rt.handle().clone());
    let got = std::thread::spawn(move || {
        let _inside = handle.enter();
        let held = p.get_blocking()?; // the idle one
        p.get_blocking().map(|second| drop((held, second))) // a new one: connects
    })
    .join()
    .unwrap();
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(pool.stats().connections_created, 2);
}

#[test]
fn from_a_thread_outside_the_runtime_connecting_panics() {
    let rt = runtime();
    let server = EchoServer::start().unwrap();
    let pool = pool(&rt, &server);

    let p = pool.clone();
    let panic = std::thread::spawn(move || p.get_blocking().map(drop))
        .join()
        .expect_err("tokio's connect needs its runtime");
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(message.contains("no reactor running"), "{message}");
    // The pool is consistent afterwards: the slot is free and usable again.
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.in_use), (0, 0));
    let p = pool.clone();
    let got = rt.block_on(async move { p.get().await.map(drop) });
    assert!(got.is_ok(), "{got:?}");
}
