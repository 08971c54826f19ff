//! What a new user meets first: the names this crate re-exports, the addresses `tcp`
//! accepts, and error messages that name their cause.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use netpool_testkit::EchoServer;

#[test]
fn reexports_cover_what_a_user_touches() {
    let server = EchoServer::start().unwrap();
    let pool: netpool_std::Pool = netpool_std::tcp(server.addr())
        .max_size(1)
        .queue_strategy(netpool_std::QueueStrategy::Lifo)
        .build()
        .unwrap();
    let mut conn: netpool_std::Pooled<netpool_std::TcpManager> = pool.get_blocking().unwrap();
    conn.write_all(b"x").unwrap();
    let mut reply = [0];
    conn.read_exact(&mut reply).unwrap();
    let meta: netpool_std::Meta = netpool_std::Pooled::meta(&conn);
    assert_eq!(meta.use_count, 1);
    netpool_std::Pooled::discard(conn);
    let stats: netpool_std::Stats = pool.stats();
    assert_eq!((stats.connections, stats.closed_broken), (0, 1));

    let _held = pool.get_blocking().unwrap();
    let err: netpool_std::Error = pool.try_get().unwrap_err();
    assert!(matches!(err, netpool_std::Error::Timeout));
    let _: netpool_std::core::Config = netpool_std::Builder::new().config().clone();
}

#[test]
fn tcp_takes_socket_addresses_and_pairs() {
    let server = EchoServer::start().unwrap();
    let addr: SocketAddr = server.addr();
    let port = addr.port();
    let builders = [
        netpool_std::tcp(addr),
        netpool_std::tcp(addr.to_string()),
        netpool_std::tcp((Ipv4Addr::LOCALHOST, port)),
        netpool_std::tcp(("127.0.0.1", port)),
        netpool_std::tcp(("localhost".to_owned(), port)),
        netpool_std::tcp(format!("127.0.0.1:{port}")),
    ];
    for builder in builders {
        let pool = builder.max_size(1).build().unwrap();
        let mut conn = pool.get_blocking().unwrap();
        conn.write_all(b"y").unwrap();
        let mut reply = [0];
        conn.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"y");
    }
    // TcpManager::new takes what it took before, and socket addresses too.
    let _ = netpool_std::TcpManager::new(String::from("localhost:1"));
    let _ = netpool_std::TcpManager::new("localhost:1");
    let _ = netpool_std::TcpManager::new(addr);
}

#[test]
fn address_errors_say_what_to_write() {
    let text = |addr: &str| netpool_std::tcp(addr).build().unwrap_err().to_string();
    let url = text("redis://127.0.0.1:6379");
    assert!(url.contains("is a URL, not an address"), "{url}");
    assert!(url.contains("expected \"host:port\""), "{url}");
    assert!(!url.contains("IPv6"), "{url}");
    let empty = text("");
    assert!(empty.contains("empty address"), "{empty}");
    assert!(!empty.contains("missing port"), "{empty}");
}

#[test]
fn build_and_connect_errors_name_their_cause() {
    let err = netpool_std::tcp("127.0.0.1:1")
        .min_idle(Some(3))
        .max_size(2)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pool settings: min_idle (3) must not exceed max_size (2)"
    );

    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed again: connects are refused
    let pool = netpool_std::tcp(addr).build().unwrap();
    let started = Instant::now();
    let err = pool.get_blocking().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("could not connect: TCP connect to {addr}: ")),
        "{text}"
    );
    assert_eq!(
        text.to_lowercase().matches("refused").count(),
        1,
        "the cause once: {text}"
    );
}

#[test]
fn hooks_events_and_keyed_pools_are_reexported() {
    use netpool_std::{Event, EventHandler, Hooks, KeyedBuilder, KeyedPool, TcpManager};

    struct NoSetup;
    impl Hooks for NoSetup {
        type Manager = TcpManager;
    }
    fn takes_handler(_: impl EventHandler) {}
    takes_handler(|_: &Event<'_>| {});
    let server = EchoServer::start().unwrap();
    let keyed: KeyedPool<String, TcpManager> = KeyedBuilder::new()
        .max_size(1)
        .build(|addr: &String| TcpManager::new(addr.clone()))
        .unwrap();
    let conn = keyed.get_blocking(&server.addr().to_string()).unwrap();
    drop(conn);
    let pool = netpool_std::core::Pool::builder()
        .hooks(NoSetup)
        .build(TcpManager::new(server.addr().to_string()))
        .unwrap();
    drop(pool.get_blocking().unwrap());
}
