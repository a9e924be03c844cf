//! Building series in groups: a [`Group`] creates metrics (a static definition cannot fail, so
//! a bad one is a bug, not an error) and registers them together, either at once or behind a
//! [`Gate`] that keeps them out of the scrape until it is opened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Metrics registered together.
#[derive(Default)]
pub(crate) struct Group {
    collectors: Vec<Box<dyn Collector>>,
    open: Arc<AtomicBool>,
}

impl Group {
    fn add<C: Collector + Clone + 'static>(&mut self, metric: C) -> C {
        self.collectors.push(Box::new(metric.clone()));
        metric
    }

    /// An integer gauge.
    pub fn gauge(&mut self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help).unwrap_or_else(|e| unreachable!("{name}: {e}")))
    }

    /// Integer gauges by `labels`.
    pub fn gauge_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(
            IntGaugeVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| unreachable!("{name}: {e}")),
        )
    }

    /// An integer counter.
    pub fn counter(&mut self, name: &str, help: &str) -> IntCounter {
        self.add(IntCounter::new(name, help).unwrap_or_else(|e| unreachable!("{name}: {e}")))
    }

    /// Integer counters by `labels`.
    pub fn counter_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(
            IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| unreachable!("{name}: {e}")),
        )
    }

    /// Histograms with `buckets`, by `labels`.
    pub fn histogram_vec(
        &mut self,
        name: &str,
        help: &str,
        buckets: &[f64],
        labels: &[&str],
    ) -> HistogramVec {
        self.add(
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
            .unwrap_or_else(|e| unreachable!("{name}: {e}")),
        )
    }

    /// Registers the group behind a closed gate and returns the gate.
    pub fn register(self, registry: &Registry) -> Gate {
        let gate = Gate(Arc::clone(&self.open));
        super::register(registry, Box::new(GatedCollector(self)));
        gate
    }

    /// Registers the group, exported from the first scrape.
    pub fn register_open(self, registry: &Registry) {
        self.register(registry).open();
    }
}

/// Opens a [`Group`]'s series for export.
pub(crate) struct Gate(Arc<AtomicBool>);

impl Gate {
    /// From now on the group's series are scraped.
    pub fn open(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct GatedCollector(Group);

impl Collector for GatedCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0.collectors.iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if !self.0.open.load(Ordering::Relaxed) {
            return Vec::new();
        }
        self.0.collectors.iter().flat_map(|c| c.collect()).collect()
    }
}
