//! S1: one task, an idle connection always free: the cost of one get+drop.

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

struct Mem;

impl netpool_core::Manager for Mem {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }
    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    let pool = netpool_core::Pool::builder()
        .max_size(16)
        .build(Mem)
        .expect("valid config");
    drop(pool.try_get().expect("first connection"));
    group.bench_function("netpool/try_get", |b| {
        b.iter(|| black_box(pool.try_get().expect("idle connection")))
    });
    group.bench_function("netpool/get_blocking", |b| {
        b.iter(|| black_box(pool.get_blocking().expect("idle connection")))
    });
    group.bench_function("netpool/get", |b| {
        b.iter(|| {
            futures_lite::future::block_on(async { black_box(pool.get().await.expect("idle")) })
        })
    });
    group.finish();
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
