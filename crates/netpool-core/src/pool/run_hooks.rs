//! The pool's side of the [`Hooks`](crate::Hooks): running `on_connect` on a new
//! connection and `on_checkout` on a checkout (the hooks themselves are in `crate::hooks`).

use std::time::Instant;

use super::inner::{Inner, Live};
use crate::clock;
use crate::error::Error;
use crate::events::{Check, Event, TimedOut};
use crate::idle::Idle;
use crate::shared::{Deadline, Slot, WaitError, run_until};
use crate::types::CloseReason;
use crate::{Manager, Meta};

impl<M: Manager> Inner<M> {
    /// A connect that started at `started` returned `conn` in the reserved `slot`: runs the
    /// `on_connect` hook until `at`, then makes the connection count as opened.
    pub(crate) async fn opened(
        &self,
        slot: Slot<'_>,
        conn: M::Connection,
        at: Option<Instant>,
        started: Instant,
    ) -> Result<Idle<M::Connection>, Error<M::Error>> {
        let shared = &self.shared;
        // Until `slot.fill()`, the slot guard frees the slot if the hook fails, hangs,
        // panics or is dropped; `item` (the connection) is dropped with it.
        let mut item = Idle::new(conn, clock::now(), shared.max_lifetime);
        if let Some(hooks) = &self.hooks.hooks {
            let outcome = run_until(at, hooks.on_connect(&mut item.conn)).await;
            if !matches!(outcome, Some(Ok(()))) {
                drop(item);
                return Err(shared.on_connect_failed(outcome.and_then(Result::err), started));
            }
        }
        self.count_opened(slot, &mut item);
        #[cfg(feature = "metrics")]
        shared.diag.meter.created(started.elapsed());
        // Held by a guard while the handler runs: if it panics, the connection is closed.
        let mut live = self.live(item, CloseReason::Uncounted);
        if let Some(item) = live.item() {
            let id = item.id();
            shared.events.emit(|| Event::ConnectionOpened {
                id,
                took: started.elapsed(),
            });
        }
        Ok(live.take())
    }

    /// A new connection (opened here, or added with [`Pool::add`](crate::Pool::add))
    /// counts as opened: its slot is filled, its checkout record enrolled (when holders
    /// are tracked), and the refresh and the backoff learn of it.
    pub(crate) fn count_opened(&self, slot: Slot<'_>, item: &mut Idle<M::Connection>) {
        let shared = &self.shared;
        slot.fill();
        item.hold = shared.diag.enroll(item.id());
        shared.refresh.born();
        shared.connect_succeeded();
    }

    /// After checkout's checks passed: runs the `on_checkout` hook (the caller saw it
    /// enabled) until the caller's deadline. `Ok(None)` if the hook rejected the
    /// connection (it is closed).
    pub(crate) async fn checked_out(
        &self,
        mut live: Live<'_, M>,
        deadline: &mut Deadline,
    ) -> Result<Option<Idle<M::Connection>>, Error<M::Error>> {
        let Some(hooks) = self.hooks.hooks.as_ref() else {
            return Ok(Some(live.take()));
        };
        let epoch = self.shared.epoch;
        let Some(item) = live.item_mut() else {
            return Ok(None);
        };
        let id = item.id();
        let meta = Meta::from_idle(item, epoch);
        let events = &self.shared.events;
        let hook = hooks.on_checkout(&mut item.conn, meta);
        match (self.shared.alarms)
            .run_until_lazy(|| deadline.at_nanos(), hook)
            .await
        {
            None => {
                // Closed by `live` as aborted: its session state is unknown.
                events.check_failed(id, Check::OnCheckout, &TimedOut::ON_CHECKOUT);
                Err(self.wait_error(WaitError::Timeout, deadline))
            }
            Some(Err(e)) => {
                events.check_failed(id, Check::OnCheckout, &e);
                live.set_reason(CloseReason::Rejected);
                Ok(None)
            }
            Some(Ok(())) => Ok(Some(live.take())),
        }
    }
}
