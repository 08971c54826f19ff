//! The [`Manager`] trait: how the pool opens and checks connections.

use std::future::Future;

use crate::{Fault, Role};

/// Opens and checks the connections of a [`Pool`](crate::Pool).
///
/// The trait mirrors r2d2's and bb8's `ManageConnection`, so their managers port with
/// renames only. The async methods return `impl Future + Send`: a blocking manager (such as
/// `netpool-std`'s) returns a ready future.
///
/// A manager whose connections belong to a runtime (wrapping tokio's `TcpStream`, say)
/// needs that runtime when it connects. Through [`Pool::get`](crate::Pool::get) in the
/// runtime's tasks that is given; through [`Pool::get_blocking`](crate::Pool::get_blocking)
/// from a plain thread outside the runtime, the connect panics (tokio: "there is no
/// reactor running") when the pool must open a connection: call it from
/// `tokio::task::spawn_blocking` or after `Handle::enter`.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use netpool_core::Manager;
///
/// /// A "connection" that is just a counter.
/// struct Counter;
///
/// impl Manager for Counter {
///     type Connection = u64;
///     type Error = Infallible;
///
///     async fn connect(&self) -> Result<u64, Infallible> {
///         Ok(0)
///     }
///
///     async fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
///         Ok(())
///     }
///
///     fn has_broken(&self, _conn: &mut u64) -> bool {
///         false
///     }
/// }
///
/// let pool = netpool_core::Pool::builder().build(Counter)?;
/// assert_eq!(pool.stats().connections, 0); // build() opens nothing
/// # Ok::<(), netpool_core::BuildError>(())
/// ```
pub trait Manager: Send + Sync + 'static {
    /// The connection type the pool hands out.
    type Connection: Send + 'static;
    /// The error returned by [`connect`](Manager::connect) and
    /// [`is_valid`](Manager::is_valid).
    ///
    /// A manager whose operations fail with `anyhow::Error` or
    /// `Box<dyn Error + Send + Sync>` (which are not `std::error::Error`s) names
    /// [`BoxError`](crate::BoxError) here and converts with `BoxError::new` or `?`.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Opens a new connection.
    ///
    /// Called by the task that asked for a connection when no idle one is free and the pool
    /// is below `max_size`, and by [`Pool::maintain`](crate::Pool::maintain) to keep
    /// `min_idle` connections warm. The pool bounds it with `connect_timeout` and the
    /// caller's deadline, and drops the future if the caller goes away, so it must not
    /// spawn work that outlives it. It should not block the thread (unless the manager is
    /// only used through the blocking API) and should not panic; a panic propagates to the
    /// caller and leaves the pool consistent.
    ///
    /// The pool's timeouts work by dropping the future; a `connect` that blocks the thread
    /// inside one poll (a blocking manager) cannot be interrupted, so such a manager must
    /// bound its own connect (netpool-std caps each attempt at `wait_timeout`).
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Determines if the connection is still usable.
    ///
    /// Called before a connection is handed out when `test_on_check_out` is on and the
    /// connection has been idle for at least `check_idle_after`, and by maintenance for
    /// connections that sat idle that long. An `Err` closes the connection and the pool
    /// tries another one. It is bounded by the caller's deadline and may be dropped half
    /// way (the connection is then closed). Keep it cheap: a non-blocking peek is better
    /// than a round trip.
    ///
    /// Its future may be as large as it needs: a checkout that runs it does so in one
    /// boxed future (allocated once per checked checkout, never on the hot path), so it
    /// does not make [`Pool::get`](crate::Pool::get)'s future larger.
    fn is_valid(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// [`is_valid`](Manager::is_valid)'s answer when it can be given at once, without
    /// I/O: `Some(result)` is taken as the check's result and `is_valid` is not called;
    /// `None` (the default) runs `is_valid`.
    ///
    /// Called once per check, first, wherever `is_valid` would be (checkouts and
    /// maintenance), on the thread of the caller or of maintenance. For a check
    /// whose common case is decided from the connection's own state (netpool-postgres'
    /// `Fast` recycle: an open session outside a transaction), it spares each checkout
    /// the future that an `async` check needs: a checked checkout then costs about as
    /// much as an unchecked one. Must not block or panic (a panic propagates to the
    /// caller and closes the connection, as a failed check would).
    fn is_valid_now(&self, conn: &mut Self::Connection) -> Option<Result<(), Self::Error>> {
        let _ = conn;
        None
    }

    /// *Quickly* determines if the connection is no longer usable.
    ///
    /// This will be called synchronously every time a connection is returned to the pool,
    /// so it should *not* block. If it returns `true`, the connection will be discarded.
    ///
    /// For example, an implementation might check if the underlying TCP socket has
    /// disconnected. Implementations that do not support this kind of fast health check
    /// may simply return `false`.
    fn has_broken(&self, conn: &mut Self::Connection) -> bool;

    /// Says what an error from one of this manager's connections is about: the
    /// connection, the server, or neither (see [`Fault`]).
    ///
    /// Called by [`Pooled::report`](crate::Pooled::report), on the caller's thread, with
    /// the error the caller got from the connection (an I/O error, or the protocol's own
    /// error type: downcast it). Must be cheap and must not block or panic.
    ///
    /// The default blames the connection ([`Fault::Connection`]): a reported connection
    /// is closed, as [`Pooled::discard`](crate::Pooled::discard) would. A manager whose
    /// server can change role under its connections overrides it: netpool-redis answers
    /// [`Fault::Server`] for `READONLY`, netpool-postgres for SQLSTATE 25006
    /// (`read_only_sql_transaction`), so that the pool is refreshed at once after a
    /// failover.
    fn classify(&self, err: &(dyn std::error::Error + 'static)) -> Fault {
        let _ = err;
        Fault::Connection
    }

    /// Asks the server behind `conn` whether it is a primary or a replica, for a
    /// [`ReplicaSet`](crate::ReplicaSet)'s role checks (after a failover, and
    /// periodically).
    ///
    /// Called with a connection checked out of the server's pool, bounded by the set's
    /// role-check timeout (the connection is closed if the answer does not come in
    /// time). The default answers `Ok(None)`: the manager cannot tell, and the set keeps
    /// the roles it was given. netpool-redis sends `ROLE`; netpool-postgres asks
    /// `pg_is_in_recovery()`.
    fn role(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Option<Role>, Self::Error>> + Send {
        let _ = conn;
        std::future::ready(Ok(None))
    }
}
