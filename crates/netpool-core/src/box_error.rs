//! [`BoxError`]: a [`Manager::Error`](crate::Manager::Error) for managers whose errors are
//! `anyhow::Error`s or `Box<dyn Error + Send + Sync>`.

use std::error::Error as StdError;
use std::fmt;

/// Any error, boxed: the [`Manager::Error`](crate::Manager::Error) of a manager whose
/// operations fail with `anyhow::Error`, `Box<dyn Error + Send + Sync>` or several error
/// types.
///
/// `Manager::Error` must be a `std::error::Error`, because the pool lends the manager's
/// error to the [event handler](crate::Builder::event_handler) as a `&dyn Error` (for
/// `downcast_ref`) and keeps its message for [`Error::Unavailable`](crate::Error::Unavailable).
/// `anyhow::Error` and `Box<dyn Error + Send + Sync>` are not `std::error::Error`s, so name
/// `BoxError` as the manager's error and convert with [`BoxError::new`] (anything that
/// converts into `Box<dyn Error + Send + Sync>`: an `anyhow::Error`, a boxed error, any
/// `std::error::Error + Send + Sync`, a `String` or `&str`), or with `?` from a boxed
/// error, a `String`, a `&str` or an `io::Error`.
///
/// It is transparent: its message is the inner error's, and so is its
/// [`source`](StdError::source), so `Error::Connect(BoxError)` reads
/// `could not connect: <the inner error>` as with any other manager's error.
/// [`inner`](Self::inner) lends the inner error for `downcast_ref`.
///
/// # Examples
///
/// ```
/// use netpool_core::{BoxError, Manager, Pool};
///
/// struct Flaky;
///
/// impl Manager for Flaky {
///     type Connection = u32;
///     type Error = BoxError;
///
///     async fn connect(&self) -> Result<u32, BoxError> {
///         let port: u16 = "not a port".parse().map_err(BoxError::new)?;
///         Ok(u32::from(port))
///     }
///     async fn is_valid(&self, _: &mut u32) -> Result<(), BoxError> {
///         Err("no longer valid".into())
///     }
///     fn has_broken(&self, _: &mut u32) -> bool {
///         false
///     }
/// }
///
/// let pool = Pool::builder().build(Flaky)?;
/// let err = pool.get_blocking().unwrap_err();
/// assert_eq!(err.to_string(), "could not connect: invalid digit found in string");
/// let inner = err.connect_error().unwrap().inner();
/// assert!(inner.downcast_ref::<std::num::ParseIntError>().is_some());
/// # Ok::<(), netpool_core::BuildError>(())
/// ```
pub struct BoxError(Box<dyn StdError + Send + Sync + 'static>);

impl BoxError {
    /// Boxes `error`: an `anyhow::Error`, a `Box<dyn Error + Send + Sync>`, any
    /// `std::error::Error + Send + Sync + 'static`, a `String` or a `&str`.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self(error.into())
    }

    /// The inner error, for `downcast_ref`.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }

    /// Unwraps the inner error.
    pub fn into_inner(self) -> Box<dyn StdError + Send + Sync + 'static> {
        self.0
    }
}

impl fmt::Debug for BoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for BoxError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

impl From<Box<dyn StdError + Send + Sync + 'static>> for BoxError {
    fn from(error: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        Self(error)
    }
}

impl From<std::io::Error> for BoxError {
    fn from(error: std::io::Error) -> Self {
        Self(Box::new(error))
    }
}

impl From<String> for BoxError {
    fn from(message: String) -> Self {
        Self(message.into())
    }
}

impl From<&str> for BoxError {
    fn from(message: &str) -> Self {
        Self(message.into())
    }
}
