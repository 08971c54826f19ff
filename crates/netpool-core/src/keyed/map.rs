//! The sharded key map of a [`KeyedPool`](crate::KeyedPool) and its hasher.
//!
//! # Implementation details
//!
//! Keys live in [`SHARDS`] maps, each behind its own `RwLock` on its own cache line. A get
//! for a known key read-locks one shard (readers share it: no writer is involved unless
//! a key is added or forgotten), so gets for different keys touch different cache lines
//! and gets for one key never wait for each other. The hash is a multiply-rotate hash
//! (FxHash's), a few ns for a short key: keys are server addresses chosen by the
//! application, not by an attacker, so hash flooding is not a concern.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crossbeam_utils::CachePadded;

/// Number of shards (a power of two).
pub(super) const SHARDS: usize = 64;

/// One shard: a key map behind a read-mostly lock.
pub(super) type Shard<K, V> = CachePadded<RwLock<HashMap<K, V, BuildHasherDefault<FxHasher>>>>;

/// The shards, created empty.
pub(super) fn shards<K, V>() -> Box<[Shard<K, V>]> {
    (0..SHARDS)
        .map(|_| CachePadded::new(RwLock::new(HashMap::default())))
        .collect()
}

/// The shard index of `key`.
#[inline]
pub(super) fn shard_of<K: Hash>(key: &K) -> usize {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    // The top bits are the best mixed.
    (h.finish() >> (64 - SHARDS.trailing_zeros())) as usize
}

/// Read-locks a shard, ignoring poisoning: no critical section panics half way through
/// an update (map operations on a consistent map, nothing else).
#[inline]
pub(super) fn read<K, V>(
    shard: &Shard<K, V>,
) -> RwLockReadGuard<'_, HashMap<K, V, BuildHasherDefault<FxHasher>>> {
    shard
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write-locks a shard, ignoring poisoning (see [`read`]).
pub(super) fn write<K, V>(
    shard: &Shard<K, V>,
) -> RwLockWriteGuard<'_, HashMap<K, V, BuildHasherDefault<FxHasher>>> {
    shard
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// FxHash: a rotate, xor and multiply per word.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // One more round spreads the last word into the top bits used for sharding.
        (self.hash ^ (self.hash >> 29)).wrapping_mul(SEED)
    }
}
