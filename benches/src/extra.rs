//! Numbers criterion does not record: allocations per cycle and fairness.
//!
//! A bench calls [`Tally::observe`] after every measured run and [`Tally::record`] once
//! the benchmark is done. The run with the most cycles (the last criterion sample) wins:
//! it amortises the set-up (spawning tasks) best. `record` prints the numbers and writes
//! them to `<criterion dir>/netpool-extra/<id>.json`, where the `report` bin finds them.

use std::path::PathBuf;
use std::{env, fs};

/// The criterion output directory, found as criterion finds it: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else `target/criterion` under the workspace root.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("criterion")
}

/// The best-amortised observation of one benchmark.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    cycles: u64,
    allocations: u64,
    fairness: Option<f64>,
}

impl Tally {
    /// A tally with nothing observed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One measured run: `cycles` get+return cycles made `allocations` heap allocations;
    /// `per_worker` holds the cycles each task or thread completed (empty when the run had
    /// one worker). Kept if it is the longest run so far.
    pub fn observe(&mut self, cycles: u64, allocations: u64, per_worker: &[u64]) {
        if cycles < self.cycles {
            return;
        }
        self.cycles = cycles;
        self.allocations = allocations;
        self.fairness = fairness(per_worker);
    }

    /// Allocations per cycle in the longest run.
    pub fn allocs_per_cycle(&self) -> f64 {
        if self.cycles == 0 {
            0.0
        } else {
            self.allocations as f64 / self.cycles as f64
        }
    }

    /// Prints the tally and writes it for the `report` bin. `id` is criterion's full id,
    /// `group/function[/parameter]`.
    pub fn record(&self, id: &str) {
        if self.cycles == 0 {
            // Filtered out by the command line: nothing ran, keep an earlier record.
            return;
        }
        let fairness = self.fairness.map_or_else(String::new, |f| {
            format!(", fairness (min/max cycles) {f:.3}")
        });
        println!(
            "{id}: {:.3} allocations/cycle over {} cycles{fairness}",
            self.allocs_per_cycle(),
            self.cycles
        );
        let value = serde_json::json!({
            "id": id,
            "cycles": self.cycles,
            "allocations": self.allocations,
            "allocs_per_cycle": self.allocs_per_cycle(),
            "fairness": self.fairness,
        });
        let dir = criterion_dir().join("netpool-extra");
        let file = dir.join(format!("{}.json", id.replace(['/', ' '], "_")));
        let written = fs::create_dir_all(&dir).and_then(|()| fs::write(&file, value.to_string()));
        if let Err(e) = written {
            eprintln!("could not write {}: {e}", file.display());
        }
    }
}

/// Prints and records one run of an interleaved comparison (runs alternated round by
/// round in one process): its median ns per cycle and, for each baseline run, the median
/// over rounds of its time relative to that baseline's in the same round. Written as
/// `<criterion dir>/netpool-extra/interleaved-<id>.json`.
pub fn record_interleaved(id: &str, ns: f64, vs: &[(&str, f64)], rounds: usize) {
    let ratios: Vec<String> = vs
        .iter()
        .map(|(name, ratio)| format!("{ratio:.3}x {name}"))
        .collect();
    println!(
        "{id}: interleaved over {rounds} rounds: {ns:.1} ns/cycle, {}",
        ratios.join(", ")
    );
    let vs: serde_json::Map<String, serde_json::Value> = vs
        .iter()
        .map(|(name, ratio)| ((*name).to_owned(), serde_json::json!(ratio)))
        .collect();
    let value = serde_json::json!({
        "id": id,
        "interleaved_ns": ns,
        "interleaved_vs": vs,
        "rounds": rounds,
    });
    let dir = criterion_dir().join("netpool-extra");
    let file = dir.join(format!("interleaved-{}.json", id.replace(['/', ' '], "_")));
    let written = fs::create_dir_all(&dir).and_then(|()| fs::write(&file, value.to_string()));
    if let Err(e) = written {
        eprintln!("could not write {}: {e}", file.display());
    }
}

/// min/max of the per-worker counts, `None` for fewer than two workers.
pub fn fairness(per_worker: &[u64]) -> Option<f64> {
    if per_worker.len() < 2 {
        return None;
    }
    let min = per_worker.iter().copied().min().unwrap_or(0);
    let max = per_worker.iter().copied().max().unwrap_or(0);
    Some(if max == 0 {
        1.0
    } else {
        min as f64 / max as f64
    })
}
