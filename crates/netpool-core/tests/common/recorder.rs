//! An event handler that records owned copies of the pool's events, for assertions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpool_core::{Check, CloseReason, ConnectFailure, Event, LastConnectError};

/// Writes [`Rec`], an owned copy of [`Event`] (errors as their messages), and
/// `Rec::of`: each row is a variant of `Rec`, its fields, and the event it copies.
macro_rules! owned_events {
    ($($rec:ident $({ $($field:ident: $ty:ty),* })? <= $event:ident,)*) => {
        /// An owned copy of an [`Event`] (errors as their messages).
        #[derive(Debug, Clone, PartialEq)]
        pub enum Rec {
            $($rec $({ $($field: $ty),* })?,)*
        }

        impl Rec {
            pub fn of(event: &Event<'_>) -> Self {
                match *event {
                    $(Event::$event $({ $($field),* })? => Self::$rec $({ $($field: $field.own()),* })?,)*
                    _ => unreachable!("a new event kind: add it to Rec"),
                }
            }
        }
    };
}

owned_events! {
    Opened { id: u64, took: Duration } <= ConnectionOpened,
    ConnectFailed { failure: ConnectFailure, error: String, took: Duration } <= ConnectFailed,
    Closed { id: u64, reason: CloseReason, age: Duration, uses: u64 } <= ConnectionClosed,
    CheckFailed { id: u64, check: Check, error: String } <= CheckFailed,
    BackoffEntered { failures: u32, retry_in: Duration, last_error: String } <= BackoffEntered,
    BackoffLeft { failures: u32 } <= BackoffLeft,
    GetTimedOut { waited: Duration } <= GetTimedOut,
    Resized { from: usize, to: usize } <= Resized,
    PoolClosed <= Closed,
}

/// A field of an [`Event`] as [`Rec`] keeps it: errors as their messages, the rest as
/// they are.
trait Own {
    type Owned;
    fn own(self) -> Self::Owned;
}

macro_rules! own_as_is {
    ($($ty:ty),*) => {
        $(impl Own for $ty {
            type Owned = Self;
            fn own(self) -> Self {
                self
            }
        })*
    };
}

own_as_is!(
    u32,
    u64,
    usize,
    Duration,
    CloseReason,
    ConnectFailure,
    Check
);

impl Own for &(dyn std::error::Error + 'static) {
    type Owned = String;
    fn own(self) -> String {
        self.to_string()
    }
}

impl Own for &LastConnectError {
    type Owned = String;
    fn own(self) -> String {
        self.to_string()
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
