//! The machine as a whole, from /proc: CPU time used by every process on it (the run's
//! and anyone else's), and the kernel's CPU pressure — how long runnable tasks waited
//! for a core, which is what stretches a latency tail on a busy machine even when no
//! single process is saturated.

use crate::server::ticks_per_second;

/// CPU seconds every core spent busy since boot (user, nice, system, irq, softirq,
/// steal: the first line of /proc/stat minus idle and iowait); 0 if unreadable.
pub fn busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = cpu
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) / ticks_per_second()
}

/// Seconds since boot during which at least one runnable task waited for a CPU
/// (`some total` of /proc/pressure/cpu, in µs there); `None` without PSI.
pub fn cpu_wait_seconds() -> Option<f64> {
    let psi = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    psi.lines()
        .find(|l| l.starts_with("some "))?
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse::<f64>()
        .ok()
        .map(|us| us / 1e6)
}
