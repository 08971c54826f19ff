//! The sharded key map of a [`KeyedPool`](crate::KeyedPool) and its hasher.
//!
//! # Implementation details
//!
//! Keys live in [`SHARDS`] maps, each behind its own `RwLock` on its own cache line. A get
//! for a known key read-locks one shard (readers share it: no writer is involved unless
//! a key is added or forgotten), so gets for different keys touch different cache lines
//! and gets for one key never wait for each other. The hash is a multiply-rotate hash
//! (FxHash's), a few ns for a short key, computed once per lookup: keys are server addresses chosen by the
//! application, not by an attacker, so hash flooding is not a concern.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crossbeam_utils::CachePadded;

/// Number of shards (a power of two).
pub(super) const SHARDS: usize = 64;

/// A shard's map: keys stored with their hash, which is computed once per lookup (for the
/// shard and the map alike) and never again.
pub(super) type Map<K, V> = HashMap<Hashed<K>, V, BuildHasherDefault<IdHasher>>;

/// One shard: a key map behind a read-mostly lock.
pub(super) type Shard<K, V> = CachePadded<RwLock<Map<K, V>>>;

/// The shards, created empty.
pub(super) fn shards<K, V>() -> Box<[Shard<K, V>]> {
    (0..SHARDS)
        .map(|_| CachePadded::new(RwLock::new(HashMap::default())))
        .collect()
}

/// The hash of `key`.
#[inline]
pub(super) fn hash_of<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    h.finish()
}

/// The shard of a hash: bits 32.. (the map itself uses the low bits for the bucket and the
/// top 7 for its tags, so keys of one shard still spread in it).
#[inline]
pub(super) fn shard_index(hash: u64) -> usize {
    (hash >> 32) as usize & (SHARDS - 1)
}

/// The entry of `key` (whose hash is `hash`) in `map`.
#[inline]
pub(super) fn find<'m, K: Eq, V>(map: &'m Map<K, V>, hash: u64, key: &K) -> Option<&'m V> {
    map.get(&(hash, key) as &dyn Lookup<K>)
}

/// Removes the entry of `key` from `map`.
pub(super) fn take<K: Eq, V>(map: &mut Map<K, V>, hash: u64, key: &K) -> Option<V> {
    map.remove(&(hash, key) as &dyn Lookup<K>)
}

/// A key with its hash.
#[derive(Debug)]
pub(super) struct Hashed<K> {
    pub(super) hash: u64,
    pub(super) key: K,
}

impl<K> Hash for Hashed<K> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

impl<K: Eq> PartialEq for Hashed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl<K: Eq> Eq for Hashed<K> {}

/// A borrowed view of a hashed key, so that a lookup needs no owned key: the map's keys
/// borrow as `dyn Lookup`, and so does a `(hash, &key)` pair.
pub(super) trait Lookup<K> {
    fn hash(&self) -> u64;
    fn key(&self) -> &K;
}

impl<K> Lookup<K> for Hashed<K> {
    fn hash(&self) -> u64 {
        self.hash
    }
    fn key(&self) -> &K {
        &self.key
    }
}

impl<K> Lookup<K> for (u64, &K) {
    fn hash(&self) -> u64 {
        self.0
    }
    fn key(&self) -> &K {
        self.1
    }
}

impl<'a, K: 'a> Borrow<dyn Lookup<K> + 'a> for Hashed<K> {
    fn borrow(&self) -> &(dyn Lookup<K> + 'a) {
        self
    }
}

impl<K> Hash for dyn Lookup<K> + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(Lookup::hash(self));
    }
}

impl<K: Eq> PartialEq for dyn Lookup<K> + '_ {
    fn eq(&self, other: &Self) -> bool {
        Lookup::hash(self) == Lookup::hash(other) && self.key() == other.key()
    }
}

impl<K: Eq> Eq for dyn Lookup<K> + '_ {}

/// The map's hasher: the hash was computed already.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct IdHasher {
    hash: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (by `Hashed` and `dyn Lookup`); fold anything else.
        for &b in bytes {
            self.hash = (self.hash.rotate_left(8) ^ u64::from(b)).wrapping_mul(SEED);
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.hash = i;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Read-locks a shard, ignoring poisoning: no critical section panics half way through
/// an update (map operations on a consistent map, nothing else).
#[inline]
pub(super) fn read<K, V>(shard: &Shard<K, V>) -> RwLockReadGuard<'_, Map<K, V>> {
    shard
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write-locks a shard, ignoring poisoning (see [`read`]).
pub(super) fn write<K, V>(shard: &Shard<K, V>) -> RwLockWriteGuard<'_, Map<K, V>> {
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
    fn write(&mut self, mut bytes: &[u8]) {
        while let Some((word, rest)) = bytes.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            bytes = rest;
        }
        if let Some((word, rest)) = bytes.split_first_chunk::<4>() {
            self.add(u64::from(u32::from_le_bytes(*word)));
            bytes = rest;
        }
        for &b in bytes {
            self.add(u64::from(b));
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
        // One more round spreads the last words over every bit.
        (self.hash ^ (self.hash >> 29)).wrapping_mul(SEED)
    }
}
