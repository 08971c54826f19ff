//! Turns a criterion run into `results/benchmarks.md` (a table per scenario: ns per cycle,
//! ratio to deadpool or r2d2, ratio to the floor, allocations per cycle, fairness),
//! `results/benchmarks.svg` (a bar chart per scenario) and `results/machine.txt`.
//!
//! Usage: `cargo run -p netpool-benches --bin report -- [CRITERION_DIR] [OUT_DIR]`.
//! `CRITERION_DIR` defaults to where criterion writes (`$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion`); `OUT_DIR` to
//! `benches/results`. Times are criterion's median estimate per iteration; every bench
//! counts one get+return cycle (or one request/response) as one iteration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs, io};

use netpool_benches::extra::criterion_dir;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use serde_json::Value;

/// The scenarios in the order they are shown, with their titles.
const SCENARIOS: &[(&str, &str)] = &[
    ("s1_uncontended", "S1: 1 task, pool 16, pre-filled"),
    (
        "s2_contended",
        "S2: 64 tokio tasks on 2 workers, pool 8, yield while held",
    ),
    ("s2_blocking", "S2 blocking: 64 threads, pool 8"),
    ("s3_two_cores", "S3: 2 tasks on 2 cores, pool 2"),
    (
        "tcp_echo",
        "TCP: 8 or 64 tasks, pool 8, 32-byte request/response over loopback",
    ),
];

/// One benchmark's result.
#[derive(Debug, Clone)]
struct Row {
    function: String,
    param: String,
    ns: f64,
    allocs: Option<f64>,
    fairness: Option<f64>,
    /// From an interleaved comparison: median ns per cycle, and the median ratio to each
    /// baseline run of the same round, by baseline name.
    interleaved: Option<(f64, BTreeMap<String, f64>)>,
}

fn main() -> io::Result<()> {
    let mut args = env::args_os().skip(1);
    let dir = args.next().map_or_else(criterion_dir, PathBuf::from);
    let out = args.next().map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results"),
        PathBuf::from,
    );
    let extras = read_extras(&dir.join("netpool-extra"));
    let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut found = Vec::new();
    find_runs(&dir, &mut found)?;
    for new_dir in found {
        let Some(row) = read_run(&new_dir, &extras) else {
            continue;
        };
        groups.entry(row.0).or_default().push(row.1);
    }
    if groups.is_empty() {
        eprintln!("no criterion results under {}", dir.display());
        std::process::exit(1);
    }
    let ordered = order(groups);
    fs::create_dir_all(&out)?;
    let machine = machine();
    fs::write(out.join("machine.txt"), &machine)?;
    fs::write(out.join("benchmarks.md"), markdown(&ordered, &machine))?;
    chart(&ordered, &out.join("benchmarks.svg")).map_err(|e| io::Error::other(e.to_string()))?;
    println!(
        "wrote {}/benchmarks.md, benchmarks.svg, machine.txt",
        out.display()
    );
    Ok(())
}

/// Every `new` directory holding a `benchmark.json` and an `estimates.json`.
fn find_runs(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if path.join("benchmark.json").is_file() && path.join("estimates.json").is_file() {
                found.push(path);
            }
        } else if path.file_name().is_some_and(|n| n != "report") {
            find_runs(&path, found)?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Option<Value> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The extras (allocations per cycle, fairness) by criterion id.
fn read_extras(dir: &Path) -> BTreeMap<String, Value> {
    let mut extras = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return extras;
    };
    for entry in entries.flatten() {
        if let Some(value) = read_json(&entry.path()) {
            if let Some(id) = value["id"].as_str() {
                let key = if value.get("interleaved_ns").is_some() {
                    format!("interleaved:{id}")
                } else {
                    id.to_owned()
                };
                extras.insert(key, value.clone());
            }
        }
    }
    extras
}

fn read_run(dir: &Path, extras: &BTreeMap<String, Value>) -> Option<(String, Row)> {
    let bench = read_json(&dir.join("benchmark.json"))?;
    let estimates = read_json(&dir.join("estimates.json"))?;
    let group = bench["group_id"].as_str()?.to_owned();
    let function = bench["function_id"].as_str().unwrap_or("").to_owned();
    let param = bench["value_str"].as_str().unwrap_or("").to_owned();
    let full_id = bench["full_id"].as_str()?;
    let ns = estimates["median"]["point_estimate"].as_f64()?;
    let extra = extras.get(full_id);
    let interleaved = extras.get(&format!("interleaved:{full_id}")).and_then(|e| {
        let vs = e["interleaved_vs"]
            .as_object()?
            .iter()
            .filter_map(|(name, ratio)| Some((name.clone(), ratio.as_f64()?)))
            .collect();
        Some((e["interleaved_ns"].as_f64()?, vs))
    });
    let row = Row {
        interleaved,
        function,
        param,
        ns,
        allocs: extra.and_then(|e| e["allocs_per_cycle"].as_f64()),
        fairness: extra.and_then(|e| e["fairness"].as_f64()),
    };
    Some((group, row))
}

/// Known scenarios first, in their order; any other group after, by name. Rows in the
/// order netpool, peers, floors.
fn order(mut groups: BTreeMap<String, Vec<Row>>) -> Vec<(String, String, Vec<Row>)> {
    let mut ordered = Vec::new();
    for (id, title) in SCENARIOS {
        if let Some(rows) = groups.remove(*id) {
            ordered.push(((*id).to_owned(), (*title).to_owned(), rows));
        }
    }
    for (id, rows) in groups {
        ordered.push((id.clone(), id, rows));
    }
    for (_, _, rows) in &mut ordered {
        rows.sort_by_key(|r| (rank(&r.function), r.function.clone(), r.param.clone()));
    }
    ordered
}

fn rank(function: &str) -> u8 {
    if function.starts_with("netpool") {
        0
    } else if function.starts_with("floor") || function == "raw" {
        2
    } else {
        1
    }
}

/// The peer each scenario is compared with: deadpool, else r2d2.
fn reference(rows: &[Row]) -> Option<&'static str> {
    ["deadpool", "r2d2"]
        .into_iter()
        .find(|name| rows.iter().any(|r| r.function == *name))
}

/// What no pool can beat: a pool with no accounting (event-listener + ConcurrentQueue), a
/// bare queue, a task that only yields, a raw round trip.
fn floor(rows: &[Row]) -> Option<&'static str> {
    [
        "floor-sketch",
        "floor-concurrent_queue",
        "floor-yield",
        "raw",
    ]
    .into_iter()
    .find(|name| rows.iter().any(|r| r.function == *name))
}

/// The row of `function` with the same parameter as `row`, else its first row.
fn same_param<'a>(rows: &'a [Row], function: &str, row: &Row) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.function == function && r.param == row.param)
        .or_else(|| rows.iter().find(|r| r.function == function))
}

fn markdown(groups: &[(String, String, Vec<Row>)], machine: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Median ns per get+return cycle (TCP: per request/response), criterion, one run. \
         Measured on: {}.\n",
        machine.trim().replace('\n', ", ")
    );
    for (id, title, rows) in groups {
        let reference = reference(rows);
        let floor = floor(rows);
        let ref_name = reference.unwrap_or("-");
        let floor_name = floor.unwrap_or("floor");
        let _ = writeln!(md, "### {title}\n\n`{id}`\n");
        let _ = writeln!(
            md,
            "| pool | workers × max_size | ns/op | × {ref_name} | × {floor_name} | allocs/cycle | fairness |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
        for row in rows {
            let ratio = |base: Option<&str>| {
                base.and_then(|name| same_param(rows, name, row))
                    .map_or_else(|| "-".to_owned(), |b| format!("{:.2}", row.ns / b.ns))
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.function,
                row.param.replace('x', " × "),
                format_ns(row.ns),
                ratio(reference),
                ratio(floor),
                row.allocs
                    .map_or_else(|| "-".to_owned(), |a| format!("{a:.3}")),
                row.fairness
                    .map_or_else(|| "-".to_owned(), |f| format!("{f:.3}")),
            );
        }
        md.push('\n');
        if rows.iter().any(|r| r.interleaved.is_some()) {
            let _ = writeln!(
                md,
                "The same runs alternated round by round in one process, after criterion's \
                 pass (median over rounds of the per-round ratio; load from other processes \
                 hits every run alike):\n"
            );
            let _ = writeln!(
                md,
                "| pool | workers × max_size | ns/op | × {ref_name} | × {floor_name} |"
            );
            let _ = writeln!(md, "|---|---|---:|---:|---:|");
            for row in rows {
                if let Some((ns, vs)) = &row.interleaved {
                    let ratio = |name: &str| {
                        vs.get(name)
                            .map_or_else(|| "-".to_owned(), |r| format!("{r:.3}"))
                    };
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} |",
                        row.function,
                        row.param.replace('x', " × "),
                        format_ns(*ns),
                        ratio(ref_name),
                        ratio(floor_name),
                    );
                }
            }
            md.push('\n');
        }
    }
    md
}

fn format_ns(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0}")
    } else {
        format!("{ns:.1}")
    }
}

/// `nproc` and the CPU model, as `lscpu` shows them.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!(
        "nproc: {cpus}\nmodel name: {model}\nos: {} {}\n",
        env::consts::OS,
        env::consts::ARCH
    )
}

const ROW_HEIGHT: u32 = 22;
const PANEL_EXTRA: u32 = 70;
const WIDTH: u32 = 1000;

fn chart(
    groups: &[(String, String, Vec<Row>)],
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let heights: Vec<u32> = groups
        .iter()
        .map(|(_, _, rows)| PANEL_EXTRA + ROW_HEIGHT * rows.len() as u32)
        .collect();
    let total: u32 = heights.iter().sum();
    let root = SVGBackend::new(path, (WIDTH, total)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut rest = root;
    for ((_, title, rows), height) in groups.iter().zip(heights) {
        let (panel, below) = rest.split_vertically(height);
        rest = below;
        // Log scale: the floors (~10 ns) and mobc (~µs) share a panel.
        let max = rows.iter().map(|r| r.ns).fold(1.0, f64::max) * 4.0;
        let min = rows.iter().map(|r| r.ns).fold(f64::INFINITY, f64::min) / 2.0;
        let n = rows.len() as i32;
        let labels: Vec<String> = rows
            .iter()
            .map(|r| format!("{} ({})", r.function, r.param))
            .collect();
        let mut chart = ChartBuilder::on(&panel)
            .caption(
                format!("{title} — ns/op, lower is better"),
                ("sans-serif", 16),
            )
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(250)
            .build_cartesian_2d((min..max).log_scale(), (0..n).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| labels.get(i))
                    .cloned()
                    .unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .x_labels(6)
            .draw()?;
        chart.draw_series(rows.iter().enumerate().map(|(i, row)| {
            let i = i as i32;
            let color = match rank(&row.function) {
                0 => RGBColor(31, 119, 180),
                1 => RGBColor(255, 127, 14),
                _ => RGBColor(160, 160, 160),
            };
            let mut bar = Rectangle::new(
                [
                    (min, SegmentValue::Exact(i)),
                    (row.ns, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))?;
        chart.draw_series(rows.iter().enumerate().map(|(i, row)| {
            Text::new(
                format!(" {}", format_ns(row.ns)),
                (row.ns, SegmentValue::CenterOf(i as i32)),
                ("sans-serif", 12),
            )
        }))?;
    }
    rest.present()?;
    Ok(())
}
