//! One timer for many deadlines: the [`Watchdog`], and the [`Alarms`] that bound a
//! checkout's checks, a wait for capacity and a keyed pool's wait for room under its
//! total cap with it.
//!
//! A future bounded by its own async-io `Timer` registers that timer with async-io's
//! reactor, and every registration wakes the reactor's thread (a syscall, and a context
//! switch on a machine with few cores). Paid once per wait, that halved the throughput of
//! a contended pool; paid once per checked checkout (a `PING` or a `SELECT 1` before every
//! use, as deadpool and bb8 do by default), it cost a Redis pool that `PING`s on every
//! checkout a quarter to a third of its throughput (the Redis bench's `netpool_ping`:
//! 45.7k and 36.2k GETs/s at 16 and 128 tasks with a timer per check, 59.9k and 58.2k
//! with the checks on a watchdog).
//!
//! Instead, a [`Watchdog`] keeps one timer armed for the earliest of many deadlines. A
//! deadline later than the armed one (the common case: each `get`'s deadline is its
//! start plus the same `wait_timeout`) costs one atomic load. When the timer fires, the
//! watchdog asks its owner ([`Expire`]) to end what is due and re-arms itself for the
//! owner's next deadline. The timer's waker holds a `Weak` reference, so the timer never
//! keeps its owner alive.
//!
//! Under loom no timer is armed: a deadline never passes.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
#[cfg(not(loom))]
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::task::Wake;
use std::task::{Poll, Waker};

use crate::clock::Nanos;
use crate::sync::{Mutex, lock};

/// One timer, armed for the earliest deadline it was asked for.
#[derive(Debug)]
pub(crate) struct Watchdog {
    /// The armed deadline on the precise clock, `u64::MAX` when unarmed: lets a caller
    /// with a later deadline skip the lock.
    armed_at: AtomicU64,
    dog: Mutex<Dog>,
}

/// The timer and what it is armed for.
#[derive(Debug, Default)]
struct Dog {
    /// The deadline the timer is armed for, on the precise clock.
    armed: Option<Nanos>,
    #[cfg(not(loom))]
    timer: Option<async_io::Timer>,
    /// A [`Fire`], made once.
    #[cfg(not(loom))]
    waker: Option<Waker>,
}

/// What owns a [`Watchdog`]: the deadlines it enforces.
pub(crate) trait Expire: Send + Sync + 'static {
    /// The owner's watchdog.
    fn watchdog(&self) -> &Watchdog;

    /// Ends (and wakes) everything due at `now`, on the precise clock; the earliest
    /// deadline left, if any.
    fn expire(&self, now: Nanos) -> Option<Nanos>;
}

/// Arms `owner`'s watchdog for `deadline` unless it is armed for an earlier one, and
/// fires at once if `deadline` has passed already.
///
/// The owner registers what is due at `deadline` (where its `expire` looks) before it
/// calls this, and a firing unarms before `expire` looks: then either this call sees the
/// unarmed state, or `expire` sees the registration.
#[inline]
pub(crate) fn arm<T: Expire>(owner: &Arc<T>, deadline: Nanos) {
    // Lock-free early out: armed for this deadline or an earlier one (the common case:
    // inlined).
    if owner.watchdog().armed_at.load(Ordering::Acquire) > deadline
        && owner.watchdog().arm_locked(deadline, owner)
    {
        fire(owner);
    }
}

/// The timer fired: unarm, let the owner end what is due, re-arm for what is left.
fn fire<T: Expire>(owner: &Arc<T>) {
    owner.watchdog().unarm();
    if let Some(next) = owner.expire(crate::clock::precise_now()) {
        arm(owner, next);
    }
}

/// The timer's waker: fires its owner's watchdog, if the owner is still alive.
#[cfg(not(loom))]
struct Fire<T>(Weak<T>);

#[cfg(not(loom))]
impl<T: Expire> Wake for Fire<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(owner) = self.0.upgrade() {
            fire(&owner);
        }
    }
}

impl Watchdog {
    pub(crate) fn new() -> Self {
        Self {
            armed_at: AtomicU64::new(u64::MAX),
            dog: Mutex::new(Dog::default()),
        }
    }

    /// [`arm`] past its early out: `true` if `deadline` has passed already (the caller
    /// fires, with the lock released).
    fn arm_locked<T: Expire>(&self, deadline: Nanos, owner: &Arc<T>) -> bool {
        let mut dog = lock(&self.dog);
        if dog.armed.is_some_and(|armed| armed <= deadline) {
            return false;
        }
        dog.armed = Some(deadline);
        self.armed_at.store(deadline, Ordering::Release);
        #[cfg(not(loom))]
        {
            let dog = &mut *dog;
            let waker = dog
                .waker
                .get_or_insert_with(|| Waker::from(Arc::new(Fire(Arc::downgrade(owner)))));
            let timer = dog.timer.get_or_insert_with(async_io::Timer::never);
            timer.set_at(crate::clock::precise_instant(deadline));
            // Registers the waker with async-io's reactor.
            Future::poll(
                std::pin::Pin::new(timer),
                &mut std::task::Context::from_waker(waker),
            )
            .is_ready()
        }
        #[cfg(loom)]
        {
            let _ = owner;
            false
        }
    }

    /// Forgets the armed deadline: the next `arm` arms the timer again.
    fn unarm(&self) {
        let mut dog = lock(&self.dog);
        dog.armed = None;
        self.armed_at.store(u64::MAX, Ordering::SeqCst);
    }
}

/// The deadlines of a pool's checkout checks (`is_valid`, `on_checkout`), its waits for
/// capacity (`Shared::wait_capacity`) and, for a key's pool, its callers' waits for room
/// under the total cap, on one [`Watchdog`]: see [`Alarms::run_until_lazy`].
#[derive(Debug)]
pub(crate) struct Alarms {
    inner: Arc<AlarmsInner>,
}

#[derive(Debug)]
struct AlarmsInner {
    dog: Watchdog,
    list: Mutex<AlarmList>,
}

/// The registered alarms: a slab, reused, so that after warm-up a check allocates
/// nothing here.
#[derive(Debug, Default)]
struct AlarmList {
    slots: Vec<Option<Alarm>>,
    /// Indices of empty slots.
    free: Vec<usize>,
}

/// One pending check: its deadline on the precise clock, and its task's waker.
#[derive(Debug)]
struct Alarm {
    at: Nanos,
    waker: Waker,
}

impl Alarms {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(AlarmsInner {
                dog: Watchdog::new(),
                list: Mutex::new(AlarmList::default()),
            }),
        }
    }

    /// Runs `fut` until the deadline `at()` gives (on the precise clock, `None` for
    /// never), asked for only if `fut` does not complete at its first poll: a check that
    /// answers at once (a recycle decided without a round trip, say) costs no clock
    /// reading and no registration. `None` if the deadline came first.
    pub(crate) async fn run_until_lazy<F: Future>(
        &self,
        at: impl FnOnce() -> Option<Nanos>,
        fut: F,
    ) -> Option<F::Output> {
        let mut fut = pin!(fut);
        let mut at = Some(at);
        let mut deadline = None;
        let mut alarm = Registration {
            alarms: &self.inner,
            idx: None,
        };
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            let deadline = *deadline.get_or_insert_with(|| at.take().and_then(|at| at()));
            let Some(deadline) = deadline else {
                return Poll::Pending;
            };
            if passed(deadline) {
                return Poll::Ready(None);
            }
            alarm.set(deadline, cx.waker());
            Poll::Pending
        })
        .await
    }
}

/// Whether the precise clock has reached `deadline` (never under loom).
fn passed(deadline: Nanos) -> bool {
    #[cfg(not(loom))]
    {
        crate::clock::precise_now() >= deadline
    }
    #[cfg(loom)]
    {
        let _ = deadline;
        false
    }
}

/// A check's place in [`AlarmList`]; leaves it when dropped.
struct Registration<'a> {
    alarms: &'a Arc<AlarmsInner>,
    idx: Option<usize>,
}

impl Registration<'_> {
    /// Registers (or updates the waker of) the alarm for `at`.
    fn set(&mut self, at: Nanos, waker: &Waker) {
        let mut list = lock(&self.alarms.list);
        if let Some(idx) = self.idx {
            let stale = match list.slots.get_mut(idx).and_then(Option::as_mut) {
                Some(alarm) if !alarm.waker.will_wake(waker) => {
                    Some(std::mem::replace(&mut alarm.waker, waker.clone()))
                }
                _ => None,
            };
            drop(list);
            // Dropped after unlocking: a waker's drop may run arbitrary code.
            drop(stale);
            return;
        }
        let alarm = Some(Alarm {
            at,
            waker: waker.clone(),
        });
        let idx = match list.free.pop() {
            Some(idx) => {
                list.slots[idx] = alarm;
                idx
            }
            None => {
                list.slots.push(alarm);
                list.slots.len() - 1
            }
        };
        drop(list);
        self.idx = Some(idx);
        // Registered first: see `arm`.
        arm(self.alarms, at);
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let Some(idx) = self.idx else {
            return;
        };
        let mut list = lock(&self.alarms.list);
        let alarm = list.slots.get_mut(idx).and_then(Option::take);
        list.free.push(idx);
        drop(list);
        drop(alarm);
    }
}

impl Expire for AlarmsInner {
    fn watchdog(&self) -> &Watchdog {
        &self.dog
    }

    fn expire(&self, now: Nanos) -> Option<Nanos> {
        let mut woken = Vec::new();
        let mut next: Option<Nanos> = None;
        let list = lock(&self.list);
        for alarm in list.slots.iter().flatten() {
            if alarm.at <= now {
                woken.push(alarm.waker.clone());
            } else {
                next = Some(next.map_or(alarm.at, |n| n.min(alarm.at)));
            }
        }
        drop(list);
        for waker in woken {
            waker.wake();
        }
        next
    }
}
