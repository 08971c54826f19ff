//! CPU time of a process, for the benches that print CPU microseconds per operation.

/// CPU seconds used so far (user and system) by the process `pid` (`"self"` for this
/// one), from `/proc/<pid>/stat`; 0 where there is none.
pub(crate) fn cpu_of(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // After the command name (in parentheses, which may hold spaces), utime and stime are
    // the 12th and 13th fields, in ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}
