//! Error messages name their cause (most loggers print only the top level), and say
//! what is true: counts are pluralised, `try_get`'s `Timeout` does not claim it waited,
//! and the advice for a zero backoff is one the builder accepts.

use std::error::Error as _;
use std::io;
use std::time::Duration;

use netpool_core::{BuildError, Error, Manager, Pool};

/// Every connect fails with "connection refused"; holds at most one connection.
struct Refused;

impl Manager for Refused {
    type Connection = ();
    type Error = io::Error;

    async fn connect(&self) -> Result<(), io::Error> {
        Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connection refused",
        ))
    }
    async fn is_valid(&self, _: &mut ()) -> Result<(), io::Error> {
        Ok(())
    }
    fn has_broken(&self, _: &mut ()) -> bool {
        false
    }
}

fn refused_pool() -> Pool<Refused> {
    Pool::builder()
        .max_size(1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .connect_backoff(Duration::from_secs(5), Duration::from_secs(5))
        .build(Refused)
        .unwrap()
}

#[test]
fn connect_error_names_its_cause_and_keeps_its_source() {
    let pool = refused_pool();
    let err = pool.get_blocking().unwrap_err();
    assert!(err.is_connect());
    assert_eq!(err.to_string(), "could not connect: connection refused");
    let source = err.source().expect("the manager's error is the source");
    assert_eq!(source.to_string(), "connection refused");
}

#[test]
fn unavailable_names_the_last_failure_and_keeps_the_count_in_a_field() {
    let pool = Pool::builder()
        .max_size(1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .connect_backoff(Duration::from_millis(40), Duration::from_millis(80))
        .build(Refused)
        .unwrap();
    // Three failed connects (each caller's own) are the evidence...
    for _ in 0..3 {
        assert!(pool.get_blocking().unwrap_err().is_connect());
    }
    // ...so the next caller fails fast.
    let err = pool.get_blocking().unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let text = err.to_string();
    assert_eq!(
        text,
        "the server is unavailable: connect attempts keep failing, the last: connection refused"
    );
    assert!(
        matches!(err, Error::Unavailable { failures: 3, .. }),
        "{err:?}"
    );

    // The last failure is not repeated inside itself.
    let last = err
        .source()
        .expect("the last failure is the source")
        .to_string();
    assert_eq!(last, "connection refused");
}

#[test]
fn timeout_message_is_true_for_try_get_too() {
    let pool = Pool::builder().max_size(1).build(Refused).unwrap();
    let err = pool.try_get().unwrap_err();
    assert!(err.is_timeout() || err.is_connect(), "{err:?}");
    let timeout: Error<io::Error> = Error::Timeout;
    let text = timeout.to_string();
    assert!(!text.contains("timed out waiting"), "{text}");
    assert!(text.contains("try_get"), "{text}");
}

#[test]
fn zero_backoff_advice_is_one_the_builder_accepts() {
    let err = Pool::builder()
        .connect_backoff(Duration::ZERO, Duration::ZERO)
        .build(Refused)
        .unwrap_err();
    assert_eq!(err.setting(), "connect_backoff");
    let text = err.to_string();
    assert!(
        !text.contains("None"),
        "connect_backoff takes no Option: {text}"
    );
    assert!(text.contains("1 ms"), "{text}");

    let err = Pool::builder()
        .idle_timeout(Some(Duration::ZERO))
        .build(Refused)
        .unwrap_err();
    assert!(matches!(err, BuildError::ZeroDuration { .. }));
    assert!(err.to_string().contains("use None to turn it off"), "{err}");
}
