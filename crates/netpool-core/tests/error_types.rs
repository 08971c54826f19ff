//! Managers whose errors are `anyhow::Error`s or `Box<dyn Error + Send + Sync>`: they name
//! [`BoxError`] as their `Manager::Error`, and their pool's errors still name the cause,
//! lend it for `downcast_ref`, and convert into `anyhow::Error` and boxed errors with `?`.

use std::error::Error as StdError;
use std::io;

use netpool_core::{BoxError, Error, Event, Manager, Pool};

/// A manager whose own code works with anyhow.
struct AnyhowManager;

impl AnyhowManager {
    async fn dial(&self) -> anyhow::Result<u32> {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        Err(anyhow::Error::new(refused).context("could not reach the server"))
    }
}

impl Manager for AnyhowManager {
    type Connection = u32;
    type Error = BoxError;

    async fn connect(&self) -> Result<u32, BoxError> {
        self.dial().await.map_err(BoxError::new)
    }
    async fn is_valid(&self, _: &mut u32) -> Result<(), BoxError> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u32) -> bool {
        false
    }
}

/// A manager whose errors are `Box<dyn Error + Send + Sync>`: `?` converts them.
struct BoxedManager;

fn boxed_dial() -> Result<u32, Box<dyn StdError + Send + Sync>> {
    Err(Box::new(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "connection refused",
    )))
}

impl Manager for BoxedManager {
    type Connection = u32;
    type Error = BoxError;

    async fn connect(&self) -> Result<u32, BoxError> {
        Ok(boxed_dial()?)
    }
    async fn is_valid(&self, _: &mut u32) -> Result<(), BoxError> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u32) -> bool {
        false
    }
}

/// The pool's error goes into `anyhow::Result` with `?`.
fn get_anyhow(pool: &Pool<AnyhowManager>) -> anyhow::Result<u32> {
    Ok(*pool.get_blocking()?)
}

/// ... and into `Box<dyn Error + Send + Sync>`.
fn get_boxed(pool: &Pool<BoxedManager>) -> Result<u32, Box<dyn StdError + Send + Sync>> {
    Ok(*pool.get_blocking()?)
}

#[test]
fn anyhow_errors_name_their_cause_and_convert_back() {
    let pool = Pool::builder().build(AnyhowManager).unwrap();
    let err = get_anyhow(&pool).unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not connect: could not reach the server"
    );
    let pool_err = err.downcast_ref::<Error<BoxError>>().unwrap();
    assert!(pool_err.is_connect());
    // The chain below the message: anyhow's context, then the io::Error.
    let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
    assert!(chain.iter().any(|e| e == "connection refused"), "{chain:?}");
    let inner = pool_err.connect_error().unwrap().inner();
    let io = inner.source().and_then(|s| s.downcast_ref::<io::Error>());
    assert_eq!(
        io.map(io::Error::kind),
        Some(io::ErrorKind::ConnectionRefused)
    );
}

#[test]
fn boxed_errors_name_their_cause_and_are_lent_to_events() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let record = seen.clone();
    let pool = Pool::builder()
        .event_handler(move |event: &Event<'_>| {
            if let Event::ConnectFailed { error, .. } = event {
                let kind = error
                    .downcast_ref::<BoxError>()
                    .and_then(|e| e.inner().downcast_ref::<io::Error>())
                    .map(io::Error::kind);
                *record.lock().unwrap() = kind;
            }
        })
        .build(BoxedManager)
        .unwrap();
    let err = get_boxed(&pool).unwrap_err();
    assert_eq!(err.to_string(), "could not connect: connection refused");
    assert_eq!(
        *seen.lock().unwrap(),
        Some(io::ErrorKind::ConnectionRefused)
    );
}

#[test]
fn box_error_converts_from_messages_and_io_errors() {
    let from_str: BoxError = "bad handshake".into();
    assert_eq!(from_str.to_string(), "bad handshake");
    let from_io = BoxError::from(io::Error::other("reset"));
    assert_eq!(from_io.to_string(), "reset");
    assert!(from_io.inner().downcast_ref::<io::Error>().is_some());
    assert_eq!(
        format!("{from_io:?}"),
        format!("{:?}", io::Error::other("reset"))
    );
}
