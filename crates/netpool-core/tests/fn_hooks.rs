//! Closure hooks: `Builder::on_connect` / `on_checkout` and `FnHooks` run the closures
//! with the semantics of the `Hooks` trait.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_lite::future::block_on;
use netpool_core::{FnHooks, Manager, Pool};

#[derive(Debug)]
struct Session {
    id: usize,
    db: u8,
    setup: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("rejected by hook")]
struct Rejected;

#[derive(Default)]
struct Server {
    opened: AtomicUsize,
}

impl Manager for Server {
    type Connection = Session;
    type Error = Rejected;

    async fn connect(&self) -> Result<Session, Rejected> {
        let id = self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(Session {
            id,
            db: 0,
            setup: 0,
        })
    }

    async fn is_valid(&self, _: &mut Session) -> Result<(), Rejected> {
        Ok(())
    }

    fn has_broken(&self, _: &mut Session) -> bool {
        false
    }
}

#[test]
fn on_connect_runs_once_per_connection_and_on_checkout_on_every_reuse() {
    let checkouts = Arc::new(AtomicUsize::new(0));
    let seen = checkouts.clone();
    let pool = Pool::builder()
        .max_size(1)
        .on_connect(|conn: &mut Session| {
            Box::pin(async move {
                conn.setup += 1;
                conn.db = 3;
                Ok(())
            })
        })
        .on_checkout(move |conn: &mut Session, meta| {
            let seen = seen.clone();
            Box::pin(async move {
                assert_eq!(
                    meta.use_count,
                    seen.fetch_add(1, Ordering::SeqCst) as u64 + 1
                );
                conn.db = 3;
                Ok(())
            })
        })
        .build(Server::default())
        .unwrap();
    block_on(async {
        let mut conn = pool.get().await.unwrap();
        assert_eq!((conn.db, conn.setup), (3, 1));
        conn.db = 9;
        drop(conn);
        for _ in 0..3 {
            let mut conn = pool.get().await.unwrap();
            assert_eq!((conn.id, conn.db, conn.setup), (0, 3, 1));
            conn.db = 9;
        }
    });
    assert_eq!(checkouts.load(Ordering::SeqCst), 3);
}

#[test]
fn a_failing_closure_rejects_the_connection() {
    let pool = Pool::builder()
        .max_size(2)
        .on_connect(|_: &mut Session| Box::pin(async { Err(Rejected) }))
        .build(Server::default())
        .unwrap();
    let err = block_on(pool.get()).unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert_eq!(pool.stats().connections, 0);

    // A failing checkout closure closes the idle connection; the get opens another.
    let hooks = FnHooks::<Server>::new().on_checkout(|_, _| Box::pin(async { Err(Rejected) }));
    assert!(!hooks.is_empty());
    let pool = Pool::builder()
        .max_size(1)
        .hooks(hooks)
        .build(Server::default())
        .unwrap();
    block_on(async {
        let first = pool.get().await.unwrap().id;
        let second = pool.get().await.unwrap().id;
        assert_ne!(first, second);
    });
    assert_eq!(
        (pool.stats().connections_created, pool.stats().connections),
        (2, 1),
        "{:?}",
        pool.stats()
    );
}

#[test]
fn keyed_on_connect_runs_on_the_connections_of_every_key() {
    let pool = netpool_core::KeyedPool::builder()
        .max_size(2)
        .on_connect(|conn: &mut Session| {
            Box::pin(async move {
                conn.db = 5;
                conn.setup += 1;
                Ok(())
            })
        })
        .on_checkout(|conn: &mut Session, _| {
            Box::pin(async move {
                conn.db = 5; // reset what the last user changed
                Ok(())
            })
        })
        .build(|_key: &u8| Server::default())
        .expect("valid settings");
    for key in [1u8, 2, 3] {
        let mut conn = block_on(pool.get(&key)).expect("a connection");
        assert_eq!((conn.db, conn.setup), (5, 1), "key {key}: set up once");
        conn.db = 9;
        drop(conn);
        let conn = block_on(pool.get(&key)).expect("the same connection");
        assert_eq!(
            (conn.db, conn.setup),
            (5, 1),
            "key {key}: reset on checkout"
        );
    }
}
