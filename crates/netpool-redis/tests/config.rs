//! `Config` from URLs and from serde, without a server: what is parsed, what is
//! rejected, and that the password never prints.

use netpool_redis::{Config, ConfigError};

#[test]
fn urls_fill_every_field() {
    let c = Config::from_url("redis://app:p%40ss@cache.example:6380/3").unwrap();
    assert_eq!(
        (c.host.as_str(), c.port, c.db, c.username.as_deref(), c.tls),
        ("cache.example", 6380, 3, Some("app"), false)
    );
    assert_eq!(c.password.as_ref().unwrap().expose(), "p@ss");

    let c = Config::from_url("redis://:only-pw@127.0.0.1").unwrap();
    assert_eq!((c.port, c.db, c.username.as_deref()), (6379, 0, None));
    assert_eq!(c.password.as_ref().unwrap().expose(), "only-pw");

    let c = Config::from_url("rediss://[::1]:7000/?client_name=web&protocol=resp3").unwrap();
    assert_eq!((c.host.as_str(), c.port, c.tls), ("::1", 7000, true));
    assert_eq!(c.client_name.as_deref(), Some("web"));
    assert_eq!(c.protocol, redis::ProtocolVersion::RESP3);
    assert_eq!(c.to_string(), "rediss://[::1]:7000/0");

    let c: Config = "valkey://localhost".parse().unwrap();
    assert_eq!((c.host.as_str(), c.tls), ("localhost", false));
}

#[test]
fn bad_urls_are_rejected_without_echoing_them() {
    let cases = [
        ("http://u:hunter2@host", "unsupported scheme"),
        ("redis://u:hunter2@host/abc", "database number"),
        ("redis://u:hunter2@host/1?color=red", "unknown parameter"),
        ("redis://u:hunter2@host/1?protocol=resp9", "resp2 or resp3"),
        ("redis://u:hunter2@:6379", "invalid Redis URL"),
        ("not a url hunter2", "invalid Redis URL"),
    ];
    for (url, expected) in cases {
        let err = Config::from_url(url).expect_err(url);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(expected), "{url}: {shown}");
        assert!(
            !shown.contains("hunter2"),
            "{url} leaks the password: {shown}"
        );
    }
}

#[test]
fn the_password_never_prints() {
    let c = Config::from_url("redis://app:hunter2@127.0.0.1:6379/1").unwrap();
    let manager = c.manager().unwrap();
    for shown in [
        c.to_string(),
        format!("{c:?}"),
        format!("{c:#?}"),
        format!("{manager:?}"),
        format!("{:?}", c.builder().unwrap()),
        format!("{:?}", c.password),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    assert_eq!(c.to_string(), "redis://app:***@127.0.0.1:6379/1");
}

#[test]
fn rediss_needs_a_rustls_config() {
    let c = Config::from_url("rediss://127.0.0.1:6380").unwrap();
    assert!(matches!(c.manager(), Err(ConfigError::NoTlsConfig)));
    let err = c.builder().unwrap().build().unwrap_err();
    assert!(err.to_string().contains("no rustls ClientConfig"), "{err}");
}

#[test]
fn serde_reads_a_url_then_the_fields_over_it() {
    let c: Config = serde_json::from_value(serde_json::json!({
        "url": "redis://app:hunter2@10.0.0.1:6380/2",
        "db": 5,
        "client_name": "billing",
        "pool": { "max_size": 32, "wait_timeout_ms": 1500 }
    }))
    .unwrap();
    assert_eq!((c.host.as_str(), c.port, c.db), ("10.0.0.1", 6380, 5));
    assert_eq!(c.password.as_ref().unwrap().expose(), "hunter2");
    assert_eq!(c.client_name.as_deref(), Some("billing"));
    assert_eq!(c.pool.max_size, Some(32));
    assert_eq!(
        c.pool.wait_timeout,
        Some(std::time::Duration::from_millis(1500))
    );

    let c: Config = serde_json::from_value(serde_json::json!({
        "host": "redis.internal", "password": "pw", "tls": true
    }))
    .unwrap();
    assert_eq!(
        (c.host.as_str(), c.port, c.tls),
        ("redis.internal", 6379, true)
    );

    let err =
        serde_json::from_value::<Config>(serde_json::json!({ "url": "redis://u:hunter2@h/x" }))
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("database number") && !err.contains("hunter2"),
        "{err}"
    );
    assert!(serde_json::from_value::<Config>(serde_json::json!({ "hots": "typo" })).is_err());
}
