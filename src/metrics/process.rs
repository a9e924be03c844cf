//! The standard `process_*` series (CPU, memory, open and maximum fds, threads, start time),
//! from the `prometheus` crate's process collector, with `process_cpu_seconds_total` in
//! fractions of a second: the crate rounds it down to whole seconds, which makes the CPU rate
//! of a mostly idle server read 0.

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::MetricFamily;

const CPU_SECONDS: &str = "process_cpu_seconds_total";

/// See the module documentation.
pub struct PreciseProcessCollector {
    inner: ProcessCollector,
}

impl PreciseProcessCollector {
    /// Collects for this process.
    pub fn for_self() -> Self {
        Self {
            inner: ProcessCollector::for_self(),
        }
    }
}

impl Collector for PreciseProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.inner.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = self.inner.collect();
        let Some(seconds) = cpu_seconds() else {
            return families;
        };
        for family in families.iter_mut().filter(|f| f.name() == CPU_SECONDS) {
            for metric in family.mut_metric().iter_mut() {
                let mut counter = prometheus::proto::Counter::default();
                counter.set_value(seconds);
                metric.set_counter(counter);
            }
        }
        families
    }
}

/// User plus system CPU time of this process, seconds, from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // SAFETY: sysconf only reads a system constant.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    cpu_seconds_from_stat(&stat, ticks_per_second)
}

fn cpu_seconds_from_stat(stat: &str, ticks_per_second: i64) -> Option<f64> {
    if ticks_per_second <= 0 {
        return None;
    }
    // The command name (field 2) may contain spaces and parentheses: count from its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, then utime (14) and stime (15).
    let user: u64 = fields.nth(11)?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / ticks_per_second as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_keeps_its_fractions() {
        let stat = "4242 (ldk server) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 9 0";
        assert_eq!(cpu_seconds_from_stat(stat, 100), Some(0.1));
        assert_eq!(cpu_seconds_from_stat(stat, 0), None);
        assert_eq!(cpu_seconds_from_stat("garbage", 100), None);
    }

    #[test]
    fn the_collector_reports_this_process() {
        let families = PreciseProcessCollector::for_self().collect();
        let cpu = families
            .iter()
            .find(|f| f.name() == CPU_SECONDS)
            .expect("cpu family");
        assert!(cpu.get_metric()[0].get_counter().get_value() >= 0.0);
        assert!(families.iter().any(|f| f.name() == "process_open_fds"));
    }
}
