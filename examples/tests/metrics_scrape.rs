//! The `metrics` example's endpoint, scraped with a real HTTP request: every instrument
//! of a netpool pool is there with its Prometheus `# TYPE`, labelled with the pool's name.

use std::io::{Read, Write};
use std::time::Duration;

use netpool_examples::prometheus::{self, INSTRUMENTS};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_serves_every_instrument_with_its_type() {
    let handle = prometheus::install().expect("the only recorder of this test process");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(prometheus::serve(listener, handle));
    let pool = prometheus::demo(Duration::from_millis(200)).await.unwrap();

    // A plain HTTP/1.1 request over a std socket, off the runtime's threads; bounded by
    // socket timeouts.
    let text = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    server.abort();

    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    for (name, kind) in INSTRUMENTS {
        assert!(
            body.lines().any(|l| l == format!("# TYPE {name} {kind}")),
            "no `# TYPE {name} {kind}` in:\n{body}"
        );
    }
    assert!(
        body.lines()
            .any(|l| l.starts_with("db_client_connection_count{")
                && l.contains("db_client_connection_pool_name=\"demo\"")
                && l.contains("db_client_connection_state=\"idle\"")),
        "{body}"
    );
    assert!(
        body.contains("db_client_connection_timeouts{db_client_connection_pool_name=\"demo\",server_address=\"memory:0\"} 1"),
        "one timeout: {body}"
    );
    assert_eq!(pool.stats().gets_timed_out, 1);
}
