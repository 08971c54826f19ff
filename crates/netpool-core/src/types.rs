//! The data every layer names: the close reasons, error verdicts, server roles and queue
//! strategies. A leaf: imports nothing of the crate.

/// Why a connection is closed, for the counters and the events.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CloseReason {
    /// Not counted: a check or hook was cut short (reported as aborted).
    Uncounted,
    Broken,
    Invalid,
    Idle,
    Lifetime,
    /// The `on_checkout` hook failed (not counted).
    Rejected,
    /// By `retain` (not counted).
    Retained,
    /// By `resize` (not counted).
    Shrunk,
    /// The pool is closed (not counted).
    Closed,
    /// Closed to give its room under a keyed pool's total cap to another key's caller.
    Handoff,
    /// Predates a refresh (see `crate::refresh`).
    Refreshed,
}

/// What an error says about where it came from: the verdict of
/// [`Manager::classify`](crate::Manager::classify), acted on by [`Pooled::report`](crate::Pooled::report).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection is unusable (an I/O error, a protocol out of sync): it is closed
    /// when its guard is dropped. Other connections are not touched.
    Connection,
    /// The server is no longer what the pool's connections expect (a primary demoted to a
    /// read-only replica: Redis `READONLY`, PostgreSQL SQLSTATE 25006): the connection is
    /// closed and the pool (or the key of a keyed pool) is [refreshed](crate::Pool::refresh) at
    /// once.
    Server,
    /// The error is the request's own (a wrong type, a constraint): nothing to do.
    None,
}

/// What a server says it is, from [`Manager::role`](crate::Manager::role).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It takes writes (Redis `ROLE` says `master`; PostgreSQL is not in recovery).
    Primary,
    /// It replicates a primary and refuses writes.
    Replica,
}

/// Which idle connection [`Pool::get`](crate::Pool::get) hands out first.
#[non_exhaustive]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum QueueStrategy {
    /// The connection that has been idle longest: spreads use over all connections, so
    /// none of them sits idle long enough to be closed by the server. Lock-free.
    #[default]
    Fifo,
    /// The connection returned most recently: keeps a small hot set and lets the rest
    /// reach `idle_timeout`. Takes a short, uncontended lock per get and return.
    Lifo,
}
