//! An event handler that records owned copies of the pool's events, for assertions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpool_core::{Check, CloseReason, ConnectFailure, Event};

/// An owned copy of an [`Event`] (errors as their messages).
#[derive(Debug, Clone, PartialEq)]
pub enum Rec {
    Opened {
        id: u64,
        took: Duration,
    },
    ConnectFailed {
        failure: ConnectFailure,
        error: String,
        took: Duration,
    },
    Closed {
        id: u64,
        reason: CloseReason,
        age: Duration,
        uses: u64,
    },
    CheckFailed {
        id: u64,
        check: Check,
        error: String,
    },
    BackoffEntered {
        failures: u32,
        retry_in: Duration,
        last_error: String,
    },
    BackoffLeft {
        failures: u32,
    },
    GetTimedOut {
        waited: Duration,
    },
    Resized {
        from: usize,
        to: usize,
    },
    PoolClosed,
}

impl Rec {
    pub fn of(event: &Event<'_>) -> Self {
        match *event {
            Event::ConnectionOpened { id, took } => Self::Opened { id, took },
            Event::ConnectFailed {
                failure,
                error,
                took,
            } => Self::ConnectFailed {
                failure,
                error: error.to_string(),
                took,
            },
            Event::ConnectionClosed {
                id,
                reason,
                age,
                uses,
            } => Self::Closed {
                id,
                reason,
                age,
                uses,
            },
            Event::CheckFailed { id, check, error } => Self::CheckFailed {
                id,
                check,
                error: error.to_string(),
            },
            Event::BackoffEntered {
                failures,
                retry_in,
                last_error,
            } => Self::BackoffEntered {
                failures,
                retry_in,
                last_error: last_error.to_string(),
            },
            Event::BackoffLeft { failures } => Self::BackoffLeft { failures },
            Event::GetTimedOut { waited } => Self::GetTimedOut { waited },
            Event::Resized { from, to } => Self::Resized { from, to },
            Event::Closed => Self::PoolClosed,
            _ => unreachable!("a new event kind: add it to Rec"),
        }
    }
}

/// Records every event it is given; clones share the record.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Rec>>>,
}

impl Recorder {
    /// The handler to give to `Builder::event_handler`.
    pub fn handler(&self) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
        let events = self.events.clone();
        move |event: &Event<'_>| events.lock().unwrap().push(Rec::of(event))
    }

    /// Takes the events recorded so far.
    pub fn take(&self) -> Vec<Rec> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    /// The reasons of the `Closed` events recorded so far (taken).
    pub fn closes(&self) -> Vec<CloseReason> {
        self.take()
            .into_iter()
            .filter_map(|r| match r {
                Rec::Closed { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }
}
