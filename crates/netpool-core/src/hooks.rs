//! [`Hooks`]: per-connection setup code that runs inside the pool (the pool
//! runs it in `pool/run_hooks.rs`, bounded by the caller's deadline).
//!
//! # Implementation details
//!
//! The pool is not generic over the hooks (so `Pool<M>` keeps one type parameter): the
//! builder erases them into a `Box<dyn>` whose methods return boxed futures. A pool
//! without hooks stores `None` and runs exactly the code it ran before hooks existed; the
//! checkout hook, when enabled, sends every checkout through the async path (a flag read
//! where the checkout decision is made, on the path that reads the clock anyway).
//!
//! A hook runs on a connection held by a guard (a reserved `Slot` for a new one, a `Live`
//! for an idle one), under `run_until` with the same deadline as `connect` or `is_valid`:
//! a hook that fails, hangs past the deadline, panics, or whose future is dropped, leaves
//! the connection closed and its slot freed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Manager, Meta};

/// Setup code that runs on the pool's connections: on every new connection before its
/// first use ([`on_connect`](Hooks::on_connect)), and, if asked for, on every checkout of
/// an idle connection ([`on_checkout`](Hooks::on_checkout)).
///
/// Like bb8's and r2d2's `CustomizeConnection` and deadpool's `post_create` and
/// `post_recycle` hooks. Set them with [`Builder::hooks`](crate::Builder::hooks); the
/// manager type comes from `Self::Manager`, so the builder chain stays
/// `Pool::builder()....hooks(h).build(manager)`.
///
/// Hooks are bounded like the manager's own methods: `on_connect` shares `connect`'s bound
/// (`connect` and the hook together must finish within `connect_timeout` and the caller's
/// deadline; in maintenance, within `connect_timeout` or 30 s), `on_checkout` the caller's
/// deadline (as `is_valid`). A hook that fails, times out, panics or is cancelled leaves
/// the connection closed and its slot freed.
///
/// # Examples
///
/// ```
/// # use std::convert::Infallible;
/// use netpool_core::{Hooks, Manager, Meta, Pool};
///
/// # #[derive(Debug)] struct Session { db: u8 }
/// # struct Server;
/// # impl Manager for Server {
/// #     type Connection = Session;
/// #     type Error = Infallible;
/// #     async fn connect(&self) -> Result<Session, Infallible> { Ok(Session { db: 0 }) }
/// #     async fn is_valid(&self, _: &mut Session) -> Result<(), Infallible> { Ok(()) }
/// #     fn has_broken(&self, _: &mut Session) -> bool { false }
/// # }
/// /// Selects database 3 on every new connection, and again on every checkout (in case the
/// /// last user selected another one).
/// struct SelectDb(u8);
///
/// impl Hooks for SelectDb {
///     type Manager = Server;
///
///     async fn on_connect(&self, conn: &mut Session) -> Result<(), Infallible> {
///         conn.db = self.0; // a real client would send SELECT here
///         Ok(())
///     }
///
///     fn runs_on_checkout(&self) -> bool {
///         true
///     }
///
///     async fn on_checkout(&self, conn: &mut Session, _meta: Meta) -> Result<(), Infallible> {
///         conn.db = self.0;
///         Ok(())
///     }
/// }
///
/// # futures_lite::future::block_on(async {
/// let pool = Pool::builder().max_size(4).hooks(SelectDb(3)).build(Server)?;
/// let mut conn = pool.get().await?;
/// assert_eq!(conn.db, 3);
/// conn.db = 7;
/// drop(conn);
/// assert_eq!(pool.get().await?.db, 3); // reset on checkout
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub trait Hooks: Send + Sync + 'static {
    /// The manager whose connections the hooks work on.
    type Manager: Manager;

    /// Runs on every new connection, before its first use: the place to select a
    /// database, name the session, set session parameters or prepare statements.
    ///
    /// An error rejects the connection: it is closed and the attempt counts as a failed
    /// connect (the caller that was connecting gets [`Error::Connect`](crate::Error::Connect) with this error,
    /// and the connect backoff counts it). Connections put in with
    /// [`Pool::add`](crate::Pool::add) do not pass through it.
    ///
    /// Cancel safety: the future may be dropped at any await point (the caller's deadline
    /// passed, or its `get` was dropped); the connection is then closed.
    fn on_connect(
        &self,
        conn: &mut <Self::Manager as Manager>::Connection,
    ) -> impl Future<Output = Result<(), <Self::Manager as Manager>::Error>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Whether [`on_checkout`](Hooks::on_checkout) runs (default `false`). Read once, when
    /// the pool is built. Leave it off unless you need it: with it on, every checkout
    /// takes the async path and runs the hook.
    fn runs_on_checkout(&self) -> bool {
        false
    }

    /// Runs when an idle connection is checked out again (after `is_valid`, if that is
    /// due), if [`runs_on_checkout`](Hooks::runs_on_checkout) says so: the place to reset
    /// session state a previous user may have left. `meta.use_count` counts the earlier
    /// checkouts (0 for a connection maintenance opened). A connection just opened for
    /// this caller skips it (it has just passed `on_connect`).
    ///
    /// An error closes the connection, and the `get` goes on with another one (as when
    /// `is_valid` fails). Bounded by the caller's deadline; cancel safe as `on_connect`.
    fn on_checkout(
        &self,
        conn: &mut <Self::Manager as Manager>::Connection,
        meta: Meta,
    ) -> impl Future<Output = Result<(), <Self::Manager as Manager>::Error>> + Send {
        let _ = (conn, meta);
        async { Ok(()) }
    }
}

/// The builder's hooks before [`Builder::hooks`](crate::Builder::hooks) is called: none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoHooks;

pub(crate) type HookFuture<'a, E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'a>>;

/// The future a closure hook returns: a boxed `Send` future that may borrow the connection,
/// written `Box::pin(async move { ... })`.
///
/// Boxed because stable Rust cannot yet require the future of an `async` closure to be
/// `Send`; the pool boxes every hook future anyway, so this costs nothing more.
pub type BoxHookFuture<'a, E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'a>>;

type ConnectFn<M> = dyn for<'a> Fn(&'a mut <M as Manager>::Connection) -> BoxHookFuture<'a, <M as Manager>::Error>
    + Send
    + Sync;
type CheckoutFn<M> = dyn for<'a> Fn(&'a mut <M as Manager>::Connection, Meta) -> BoxHookFuture<'a, <M as Manager>::Error>
    + Send
    + Sync;

/// [`Hooks`] made of closures: what [`Builder::on_connect`](crate::Builder::on_connect)
/// and [`Builder::on_checkout`](crate::Builder::on_checkout) build, and what the adapters'
/// builders and the client crates take.
///
/// Each closure gets the connection (and, on checkout, its [`Meta`]) and returns a
/// [`BoxHookFuture`]: `|conn| Box::pin(async move { ... })`. The semantics are those of
/// [`Hooks::on_connect`] and [`Hooks::on_checkout`]; setting an `on_checkout` closure
/// turns [`Hooks::runs_on_checkout`] on.
///
/// Why a boxed future and not an `async |conn| { ... }` closure: the pool's futures are
/// `Send`, so a hook's future must be too, and stable Rust cannot yet require that of an
/// async closure's future (nor can an async closure that reads its captured state be
/// called as an ordinary `Fn` returning a future). The boxed form, which sqlx's
/// `after_connect` and deadpool's `Hook::async_fn` also take, has neither limit; its
/// one allocation is per connect or per checkout with a hook, never per plain get.
///
/// # Examples
///
/// ```
/// # use std::convert::Infallible;
/// use netpool_core::{FnHooks, Manager, Pool};
///
/// # #[derive(Debug)] struct Session { db: u8 }
/// # struct Server;
/// # impl Manager for Server {
/// #     type Connection = Session;
/// #     type Error = Infallible;
/// #     async fn connect(&self) -> Result<Session, Infallible> { Ok(Session { db: 0 }) }
/// #     async fn is_valid(&self, _: &mut Session) -> Result<(), Infallible> { Ok(()) }
/// #     fn has_broken(&self, _: &mut Session) -> bool { false }
/// # }
/// let hooks = FnHooks::<Server>::new()
///     .on_connect(|conn| Box::pin(async move {
///         conn.db = 3; // a real client would send SELECT here
///         Ok(())
///     }))
///     .on_checkout(|conn, _meta| Box::pin(async move {
///         conn.db = 3;
///         Ok(())
///     }));
/// # futures_lite::future::block_on(async {
/// let pool = Pool::builder().hooks(hooks).build(Server)?;
/// let mut conn = pool.get().await?;
/// conn.db = 7;
/// drop(conn);
/// assert_eq!(pool.get().await?.db, 3); // reset on checkout
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct FnHooks<M: Manager> {
    on_connect: Option<Arc<ConnectFn<M>>>,
    on_checkout: Option<Arc<CheckoutFn<M>>>,
}

impl<M: Manager> FnHooks<M> {
    /// No hooks yet.
    pub fn new() -> Self {
        Self {
            on_connect: None,
            on_checkout: None,
        }
    }

    /// Sets the closure run on every new connection (replacing an earlier one): see
    /// [`Hooks::on_connect`].
    #[must_use]
    pub fn on_connect<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(&'a mut M::Connection) -> BoxHookFuture<'a, M::Error> + Send + Sync + 'static,
    {
        self.on_connect = Some(Arc::new(f));
        self
    }

    /// Sets the closure run on every checkout of an idle connection (replacing an earlier
    /// one): see [`Hooks::on_checkout`].
    #[must_use]
    pub fn on_checkout<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(&'a mut M::Connection, Meta) -> BoxHookFuture<'a, M::Error>
            + Send
            + Sync
            + 'static,
    {
        self.on_checkout = Some(Arc::new(f));
        self
    }

    /// Whether neither closure is set.
    pub fn is_empty(&self) -> bool {
        self.on_connect.is_none() && self.on_checkout.is_none()
    }
}

impl<M: Manager> Clone for FnHooks<M> {
    fn clone(&self) -> Self {
        Self {
            on_connect: self.on_connect.clone(),
            on_checkout: self.on_checkout.clone(),
        }
    }
}

impl<M: Manager> Default for FnHooks<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Manager> std::fmt::Debug for FnHooks<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnHooks")
            .field("on_connect", &self.on_connect.is_some())
            .field("on_checkout", &self.on_checkout.is_some())
            .finish()
    }
}

impl<M: Manager> Hooks for FnHooks<M> {
    type Manager = M;

    fn on_connect(
        &self,
        conn: &mut M::Connection,
    ) -> impl Future<Output = Result<(), M::Error>> + Send {
        let fut = self.on_connect.as_ref().map(|f| f(conn));
        async move {
            match fut {
                Some(fut) => fut.await,
                None => Ok(()),
            }
        }
    }

    fn runs_on_checkout(&self) -> bool {
        self.on_checkout.is_some()
    }

    fn on_checkout(
        &self,
        conn: &mut M::Connection,
        meta: Meta,
    ) -> impl Future<Output = Result<(), M::Error>> + Send {
        let fut = self.on_checkout.as_ref().map(|f| f(conn, meta));
        async move {
            match fut {
                Some(fut) => fut.await,
                None => Ok(()),
            }
        }
    }
}

/// [`Hooks`] with the manager fixed and the futures boxed, so a pool can hold them.
pub(crate) trait ErasedHooks<M: Manager>: Send + Sync {
    fn on_connect<'a>(&'a self, conn: &'a mut M::Connection) -> HookFuture<'a, M::Error>;
    fn on_checkout<'a>(
        &'a self,
        conn: &'a mut M::Connection,
        meta: Meta,
    ) -> HookFuture<'a, M::Error>;
}

impl<H: Hooks> ErasedHooks<H::Manager> for H {
    fn on_connect<'a>(
        &'a self,
        conn: &'a mut <H::Manager as Manager>::Connection,
    ) -> HookFuture<'a, <H::Manager as Manager>::Error> {
        Box::pin(Hooks::on_connect(self, conn))
    }

    fn on_checkout<'a>(
        &'a self,
        conn: &'a mut <H::Manager as Manager>::Connection,
        meta: Meta,
    ) -> HookFuture<'a, <H::Manager as Manager>::Error> {
        Box::pin(Hooks::on_checkout(self, conn, meta))
    }
}

/// A pool's hooks, if any.
pub(crate) struct DynHooks<M: Manager> {
    pub(crate) hooks: Option<Box<dyn ErasedHooks<M>>>,
    pub(crate) on_checkout: bool,
}

impl<M: Manager> DynHooks<M> {
    pub(crate) fn none() -> Self {
        Self {
            hooks: None,
            on_checkout: false,
        }
    }

    pub(crate) fn new<H: Hooks<Manager = M>>(hooks: H) -> Self {
        let on_checkout = hooks.runs_on_checkout();
        Self {
            hooks: Some(Box::new(hooks)),
            on_checkout,
        }
    }

    /// Whether checkouts must run the `on_checkout` hook.
    pub(crate) fn on_checkout(&self) -> bool {
        self.on_checkout
    }
}
