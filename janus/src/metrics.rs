//! Prometheus metrics, published by every supervisor with zero wiring.
//!
//! [`metrics()`] is the process-wide [`JanusMetrics`]; supervisors update it
//! unless given another one with
//! [`JanusSupervisor::with_metrics`](crate::supervisor::JanusSupervisor::with_metrics)
//! or [`SupervisorSpec::start_with_metrics`](crate::tree::SupervisorSpec::start_with_metrics).
//! Each `JanusMetrics` owns its own [`Registry`], so creating several (or
//! running several supervisors) never collides with the default registry or
//! with each other.
//!
//! | series | type | labels |
//! |---|---|---|
//! | `janus_supervisor_spawned_total` | counter | |
//! | `janus_supervisor_active_services` | gauge | |
//! | `janus_supervisor_terminated_total` | counter | |
//! | `janus_supervisor_restarts_total` | counter | `service` |
//! | `janus_supervisor_circuit_breaker_trips_total` | counter | `service` |
//! | `janus_supervisor_uptime_seconds` | histogram | |
//!
//! `active_services` is incremented and decremented, never overwritten, so
//! several supervisors add up instead of hiding each other's count. Per-service
//! series are created on their first event, not at spawn, so that a hundred
//! thousand quiet services cost no series. The uptime histogram is the
//! distribution over all terminated services: one observation per service
//! would make a per-service histogram meaningless, and a series per service
//! costly.
//!
//! ```
//! let text = janus::metrics::metrics().encode();
//! assert!(text.contains("janus_supervisor_active_services"));
//! ```

use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Buckets of `janus_supervisor_uptime_seconds`, from a second to a week:
/// long-lived services live long.
pub const UPTIME_BUCKETS: [f64; 12] = [
    1.0,
    10.0,
    60.0,
    300.0,
    900.0,
    3_600.0,
    4.0 * 3_600.0,
    12.0 * 3_600.0,
    86_400.0,
    2.0 * 86_400.0,
    4.0 * 86_400.0,
    7.0 * 86_400.0,
];

/// The Janus metric families, registered in a [`Registry`] of their own.
///
/// Cloning is cheap and shares the series.
#[derive(Clone, Debug)]
pub struct JanusMetrics {
    registry: Registry,
    /// `janus_supervisor_spawned_total`: services spawned.
    pub supervisor_spawned_total: IntCounter,
    /// `janus_supervisor_active_services`: services spawned and not yet terminated.
    pub supervisor_active_services: IntGauge,
    /// `janus_supervisor_terminated_total`: services terminated for good.
    pub supervisor_terminated_total: IntCounter,
    /// `janus_supervisor_restarts_total{service}`: restarts.
    pub supervisor_restarts_total: IntCounterVec,
    /// `janus_supervisor_circuit_breaker_trips_total{service}`: breakers opened.
    pub supervisor_circuit_breaker_trips: IntCounterVec,
    /// `janus_supervisor_uptime_seconds`: time a service spent running,
    /// observed when it terminates.
    pub supervisor_uptime_seconds: Histogram,
}

impl Default for JanusMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl JanusMetrics {
    /// A fresh set of metric families in a new registry.
    #[must_use]
    pub fn new() -> Self {
        let registry = Registry::new();
        let service = &["service"];
        let this = Self {
            supervisor_spawned_total: IntCounter::with_opts(opts(
                "janus_supervisor_spawned_total",
                "Services spawned by Janus supervisors.",
            ))
            .expect("valid metric definition"),
            supervisor_active_services: IntGauge::with_opts(opts(
                "janus_supervisor_active_services",
                "Services spawned and not yet terminated.",
            ))
            .expect("valid metric definition"),
            supervisor_terminated_total: IntCounter::with_opts(opts(
                "janus_supervisor_terminated_total",
                "Services terminated for good.",
            ))
            .expect("valid metric definition"),
            supervisor_restarts_total: IntCounterVec::new(
                opts("janus_supervisor_restarts_total", "Service restarts."),
                service,
            )
            .expect("valid metric definition"),
            supervisor_circuit_breaker_trips: IntCounterVec::new(
                opts(
                    "janus_supervisor_circuit_breaker_trips_total",
                    "Circuit breakers opened (services given up on).",
                ),
                service,
            )
            .expect("valid metric definition"),
            supervisor_uptime_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "janus_supervisor_uptime_seconds",
                    "Seconds a service spent running, observed when it terminates.",
                )
                .buckets(UPTIME_BUCKETS.to_vec()),
            )
            .expect("valid metric definition"),
            registry,
        };
        this.register(this.supervisor_spawned_total.clone());
        this.register(this.supervisor_active_services.clone());
        this.register(this.supervisor_terminated_total.clone());
        this.register(this.supervisor_restarts_total.clone());
        this.register(this.supervisor_circuit_breaker_trips.clone());
        this.register(this.supervisor_uptime_seconds.clone());
        this
    }

    fn register(&self, collector: impl Collector + 'static) {
        // A fresh registry with distinct names cannot refuse; if it ever did,
        // the series would be missing from the exposition, which is logged,
        // and nothing panics.
        if let Err(error) = self.registry.register(Box::new(collector)) {
            tracing::error!(%error, "janus: metric registration failed");
        }
    }

    /// The registry holding these families, to gather them or to register
    /// your own collectors beside them.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The families in the Prometheus text exposition format.
    #[must_use]
    pub fn encode(&self) -> String {
        encode_registry(&self.registry)
    }
}

/// Encodes every family of `registry` in the Prometheus text format.
#[must_use]
pub fn encode_registry(registry: &Registry) -> String {
    let mut buf = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&registry.gather(), &mut buf) {
        tracing::error!(%error, "janus: metric encoding failed");
    }
    String::from_utf8(buf).unwrap_or_default()
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

/// The process-wide metrics every supervisor publishes to by default.
pub fn metrics() -> &'static JanusMetrics {
    static METRICS: OnceLock<JanusMetrics> = OnceLock::new();
    METRICS.get_or_init(JanusMetrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_instances_never_collide() {
        let a = JanusMetrics::new();
        let b = JanusMetrics::new();
        a.supervisor_spawned_total.inc();
        assert_eq!(a.supervisor_spawned_total.get(), 1);
        assert_eq!(b.supervisor_spawned_total.get(), 0);
        assert_eq!(a.registry().gather().len(), b.registry().gather().len());
    }

    #[test]
    fn encodes_every_family_once_used() {
        let m = JanusMetrics::new();
        m.supervisor_restarts_total
            .with_label_values(&["feed"])
            .inc();
        m.supervisor_circuit_breaker_trips
            .with_label_values(&["feed"])
            .inc();
        m.supervisor_uptime_seconds.observe(42.0);
        let text = m.encode();
        for series in [
            "janus_supervisor_spawned_total 0",
            "janus_supervisor_active_services 0",
            "janus_supervisor_terminated_total 0",
            "janus_supervisor_restarts_total{service=\"feed\"} 1",
            "janus_supervisor_circuit_breaker_trips_total{service=\"feed\"} 1",
            "janus_supervisor_uptime_seconds_bucket{le=\"60\"} 1",
            "janus_supervisor_uptime_seconds_bucket{le=\"604800\"} 1",
        ] {
            assert!(text.contains(series), "missing {series} in\n{text}");
        }
    }

    #[test]
    fn global_instance_is_shared() {
        assert!(std::ptr::eq(metrics(), metrics()));
    }
}
