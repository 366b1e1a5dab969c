//! Prometheus metrics, published by every supervisor with zero wiring.
//!
//! [`metrics()`] is the process-wide [`JanusMetrics`]; supervisors update it
//! unless given another one when they are made:
//! [`JanusSupervisor::new_with_metrics`](crate::supervisor::JanusSupervisor::new_with_metrics)
//! or [`SupervisorSpec::start_with_metrics`](crate::tree::SupervisorSpec::start_with_metrics).
//! Each `JanusMetrics` owns its own registry, so creating several (or
//! running several supervisors) never collides with the default registry or
//! with each other.
//!
//! | series | type | labels | read with |
//! |---|---|---|---|
//! | `janus_supervisor_spawned_total` | counter | | [`spawned_total`](JanusMetrics::spawned_total) |
//! | `janus_supervisor_active_services` | gauge | | [`active_services`](JanusMetrics::active_services) |
//! | `janus_supervisor_terminated_total` | counter | | [`terminated_total`](JanusMetrics::terminated_total) |
//! | `janus_supervisor_restarts_total` | counter | `service` | [`restarts_total`](JanusMetrics::restarts_total) |
//! | `janus_supervisor_circuit_breaker_trips_total` | counter | `service` | [`circuit_breaker_trips_total`](JanusMetrics::circuit_breaker_trips_total) |
//! | `janus_supervisor_uptime_seconds` | histogram | | [`uptime_observations`](JanusMetrics::uptime_observations), [`uptime_seconds_sum`](JanusMetrics::uptime_seconds_sum) |
//! | `janus_service_failures_total` | counter | `service` | [`failures_total`](JanusMetrics::failures_total) |
//! | `janus_service_phase` | gauge | `service`, `phase` | one series per service, 1, labelled with the phase it is in |
//! | `janus_service_ready` | gauge | `service` | 1 while it runs and is ready |
//!
//! `active_services` is incremented and decremented, never overwritten, so
//! several supervisors add up instead of hiding each other's count. Per-service
//! series are created on their first event, not at spawn, so that a hundred
//! thousand quiet services cost no series; their `service` label is the
//! service's path (its name under a flat supervisor). The uptime histogram is
//! the distribution over all terminated services: one observation per service
//! would make a per-service histogram meaningless, and a series per service
//! costly.
//!
//! ```
//! let text = janus::metrics::metrics().encode();
//! assert!(text.contains("janus_supervisor_active_services"));
//! ```
//!
//! # The `prometheus` crate in the API
//!
//! The families are kept with the [`prometheus`](https://docs.rs/prometheus)
//! crate, but no type of that crate is part of Janus's API by default: the
//! families are private, read through the accessors above (plain numbers)
//! or as text with [`JanusMetrics::encode`]. So a release of Janus that
//! moves to a new `prometheus` version is not a breaking change for code
//! that uses them.
//!
//! Code that needs the registry itself (to register its own collectors
//! beside Janus's, to gather Janus's families into an exposition of its
//! own, or to serve another registry on the status endpoint) turns on the
//! `prometheus` cargo feature (on by default). It adds the items that take
//! or return `prometheus` types: [`JanusMetrics::registry`],
//! [`encode_registry`], and `StatusServer::with_registry` in
//! [`crate::http`]. Those items follow the `prometheus` version Janus
//! depends on (0.14 today): when Janus moves to another, they change with
//! it. A crate that wants no such coupling turns the feature off
//! (`default-features = false`, adding back the others it uses) and loses
//! nothing else.

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::lifecycle::ServicePhase;

/// What the metrics expose of one service, read under its lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServiceState<'a> {
    pub(crate) path: &'a str,
    pub(crate) failures: u64,
    pub(crate) phase: ServicePhase,
    pub(crate) ready: bool,
}

/// A tree whose services' state the metrics expose when gathered: its
/// root supervisor (the engine implements it).
pub(crate) trait ServiceStates: Send + Sync {
    /// Calls `f` with the state of every service of the tree.
    fn each_service(&self, f: &mut dyn FnMut(ServiceState<'_>));
}

std::thread_local! {
    /// Set while [`JanusMetrics::encode`] gathers the registry on this
    /// thread: it writes the state families itself, as text.
    static ENCODING_STATES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Clears [`ENCODING_STATES`] when dropped, even if a collector panics.
struct EncodingStates;

impl EncodingStates {
    fn begin() -> Self {
        ENCODING_STATES.set(true);
        Self
    }
}

impl Drop for EncodingStates {
    fn drop(&mut self) {
        ENCODING_STATES.set(false);
    }
}

/// Appends `value` as a label value of the text format: `\`, `"` and
/// newlines escaped.
fn push_label_value(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The series read from the trees' state when gathered, not counted on
/// the way: failures, phase and readiness of each service. Nothing on a
/// service's hot path, and a terminated tree simply drops out.
#[derive(Clone)]
struct StateCollector {
    trees: Arc<Mutex<Vec<Weak<dyn ServiceStates>>>>,
    descs: Vec<Desc>,
    /// Off: the families are left out of what is gathered.
    enabled: Arc<std::sync::atomic::AtomicBool>,
}

const FAILURES: (&str, &str) = (
    "janus_service_failures_total",
    "Failures of the service itself (errors and panics; restarts caused by a sibling are not failures).",
);
const PHASE: (&str, &str) = (
    "janus_service_phase",
    "The service's lifecycle phase: one series, valued 1, labelled with the phase it is in.",
);
const READY: (&str, &str) = (
    "janus_service_ready",
    "1 while the service runs and is ready, else 0.",
);

impl StateCollector {
    fn new() -> Self {
        let descs = [FAILURES, PHASE, READY]
            .iter()
            .filter_map(|(name, help)| {
                let labels = if *name == PHASE.0 {
                    vec!["service".to_owned(), "phase".to_owned()]
                } else {
                    vec!["service".to_owned()]
                };
                Desc::new(
                    (*name).to_owned(),
                    (*help).to_owned(),
                    labels,
                    Default::default(),
                )
                .ok()
            })
            .collect();
        Self {
            trees: Arc::default(),
            descs,
            enabled: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if !self.enabled.load(std::sync::atomic::Ordering::Relaxed) || ENCODING_STATES.get() {
            return Vec::new();
        }
        let (Ok(failures), Ok(phase), Ok(ready)) = (
            IntCounterVec::new(opts(FAILURES.0, FAILURES.1), &["service"]),
            IntGaugeVec::new(opts(PHASE.0, PHASE.1), &["service", "phase"]),
            IntGaugeVec::new(opts(READY.0, READY.1), &["service"]),
        ) else {
            return Vec::new();
        };
        let mut trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        trees.retain(|tree| tree.strong_count() > 0);
        for tree in trees.iter().filter_map(Weak::upgrade) {
            tree.each_service(&mut |s| {
                failures.with_label_values(&[s.path]).inc_by(s.failures);
                // Only the phase it is in: three series per service, not
                // seven, at 100,000 services.
                phase.with_label_values(&[s.path, s.phase.as_str()]).set(1);
                ready.with_label_values(&[s.path]).set(i64::from(s.ready));
            });
        }
        let mut families = failures.collect();
        families.extend(phase.collect());
        families.extend(ready.collect());
        families
    }
}

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

/// The Janus metric families, registered in a registry of their own.
///
/// Cloning is cheap and shares the series. Read them with the accessors
/// (plain numbers) or [`encode`](Self::encode) them; with the `prometheus`
/// feature, [`registry`](Self::registry) gives the registry itself.
///
/// ```
/// use janus::metrics::JanusMetrics;
///
/// let metrics = JanusMetrics::new();
/// assert_eq!(metrics.spawned_total(), 0);
/// assert_eq!(metrics.restarts_total("feed"), 0);
/// assert!(metrics.encode().contains("janus_supervisor_spawned_total 0"));
/// ```
#[derive(Clone)]
pub struct JanusMetrics {
    registry: Registry,
    /// The trees publishing here, whose services' state is read when
    /// gathered.
    states: StateCollector,
    /// `janus_supervisor_spawned_total`: services spawned.
    pub(crate) supervisor_spawned_total: IntCounter,
    /// `janus_supervisor_active_services`: services spawned and not yet terminated.
    pub(crate) supervisor_active_services: IntGauge,
    /// `janus_supervisor_terminated_total`: services terminated for good.
    pub(crate) supervisor_terminated_total: IntCounter,
    /// `janus_supervisor_restarts_total{service}`: restarts.
    pub(crate) supervisor_restarts_total: IntCounterVec,
    /// `janus_supervisor_circuit_breaker_trips_total{service}`: breakers opened.
    pub(crate) supervisor_circuit_breaker_trips: IntCounterVec,
    /// `janus_supervisor_uptime_seconds`: time a service spent running,
    /// observed when it terminates.
    pub(crate) supervisor_uptime_seconds: Histogram,
}

impl std::fmt::Debug for JanusMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusMetrics")
            .field("spawned_total", &self.spawned_total())
            .field("active_services", &self.active_services())
            .finish_non_exhaustive()
    }
}

impl StateCollector {
    /// Appends the three families to `out` in the text format, written
    /// straight from the trees' state: what [`Collector::collect`] gives
    /// a registry, without a label map and a protobuf message per series
    /// (at 100,000 services, 70 ms instead of 1.5 s, and a tenth of the
    /// memory; `BENCHMARKS.md`).
    fn encode(&self, out: &mut String) {
        use std::fmt::Write as _;
        if !self.enabled.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let trees = self.live_trees();
        if trees.is_empty() {
            return;
        }
        let (mut failures, mut phase, mut ready) = (String::new(), String::new(), String::new());
        for tree in &trees {
            tree.each_service(&mut |s| {
                // Labels in the order a registry sorts them: by name.
                let series = |out: &mut String, family: &str, phase: Option<ServicePhase>| {
                    out.push_str(family);
                    out.push('{');
                    if let Some(phase) = phase {
                        out.push_str("phase=\"");
                        out.push_str(phase.as_str());
                        out.push_str("\",");
                    }
                    out.push_str("service=\"");
                    push_label_value(out, s.path);
                };
                series(&mut failures, FAILURES.0, None);
                let _ = writeln!(failures, "\"}} {}", s.failures);
                series(&mut phase, PHASE.0, Some(s.phase));
                phase.push_str("\"} 1\n");
                series(&mut ready, READY.0, None);
                let _ = writeln!(ready, "\"}} {}", u8::from(s.ready));
            });
        }
        for ((name, help), kind, lines) in [
            (FAILURES, "counter", failures),
            (PHASE, "gauge", phase),
            (READY, "gauge", ready),
        ] {
            if lines.is_empty() {
                continue;
            }
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{lines}");
        }
    }

    fn live_trees(&self) -> Vec<Arc<dyn ServiceStates>> {
        self.trees
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
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
            states: StateCollector::new(),
        };
        this.register(this.states.clone());
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

    /// `janus_supervisor_spawned_total`: services spawned (and restarted by
    /// an operator after they terminated).
    #[must_use]
    pub fn spawned_total(&self) -> u64 {
        self.supervisor_spawned_total.get()
    }

    /// `janus_supervisor_active_services`: services spawned and not yet
    /// terminated, over every supervisor publishing here.
    #[must_use]
    pub fn active_services(&self) -> i64 {
        self.supervisor_active_services.get()
    }

    /// `janus_supervisor_terminated_total`: services terminated for good.
    #[must_use]
    pub fn terminated_total(&self) -> u64 {
        self.supervisor_terminated_total.get()
    }

    /// `janus_supervisor_restarts_total{service}`: the restarts of the
    /// service at the path `service` (its name under a flat supervisor,
    /// e.g. `desk/risk/limits` in a tree); 0 for one never restarted.
    /// Reading creates no series.
    #[must_use]
    pub fn restarts_total(&self, service: &str) -> u64 {
        labelled(&self.supervisor_restarts_total, service)
    }

    /// `janus_supervisor_circuit_breaker_trips_total{service}`: how many
    /// times the circuit breaker of the service at the path `service` gave
    /// up on it; 0 if it never did. Reading creates no series.
    #[must_use]
    pub fn circuit_breaker_trips_total(&self, service: &str) -> u64 {
        labelled(&self.supervisor_circuit_breaker_trips, service)
    }

    /// `janus_supervisor_uptime_seconds_count`: how many terminations the
    /// uptime histogram has observed.
    #[must_use]
    pub fn uptime_observations(&self) -> u64 {
        self.supervisor_uptime_seconds.get_sample_count()
    }

    /// `janus_supervisor_uptime_seconds_sum`: the seconds the terminated
    /// services spent running, added up.
    #[must_use]
    pub fn uptime_seconds_sum(&self) -> f64 {
        self.supervisor_uptime_seconds.get_sample_sum()
    }

    /// `janus_service_failures_total{service}`: the failures of the
    /// service at the path `service` (errors and panics of its own), as it
    /// is now; 0 for one not running under a tree publishing here.
    #[must_use]
    pub fn failures_total(&self, service: &str) -> u64 {
        let mut total = 0;
        for tree in self.states.live_trees() {
            tree.each_service(&mut |s| {
                if s.path == service {
                    total = s.failures;
                }
            });
        }
        total
    }

    /// Whether the per-service state series (`janus_service_failures_total`,
    /// `janus_service_phase`, `janus_service_ready`) are gathered (default:
    /// yes). They are read from the trees when gathered, three series per
    /// service: with 100,000 services a scrape of [`encode`](Self::encode)
    /// or `/metrics` is 300,000 lines, 16 MB, written in about 70 ms
    /// (release build, 2-vCPU VM; the status endpoint encodes off the
    /// runtime's workers), and ten times that at a million. Gathered
    /// through [`registry`](Self::registry) instead, as `prometheus`
    /// messages, they cost twenty times as much. A process that large may
    /// turn them off and keep the aggregate series.
    ///
    /// ```
    /// use janus::metrics::JanusMetrics;
    ///
    /// let metrics = JanusMetrics::new().with_service_states(false);
    /// assert!(!metrics.encode().contains("janus_service_phase"));
    /// ```
    #[must_use]
    pub fn with_service_states(self, enabled: bool) -> Self {
        self.states
            .enabled
            .store(enabled, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Publishes the state of the services of `tree` (a root) when
    /// gathered, for as long as it lives.
    pub(crate) fn watch(&self, tree: Weak<dyn ServiceStates>) {
        self.states
            .trees
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tree);
    }

    /// The registry holding these families, to gather them or to register
    /// your own collectors beside them. Its type is the `prometheus`
    /// crate's, of the version Janus depends on (see the
    /// [module docs](self#the-prometheus-crate-in-the-api)).
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The families in the Prometheus text exposition format.
    #[must_use]
    pub fn encode(&self) -> String {
        let families = {
            // The per-service families are written below, as text.
            let _states = EncodingStates::begin();
            self.registry.gather()
        };
        let mut text = encode_families(&families);
        self.states.encode(&mut text);
        text
    }
}

/// The value of the series of `vec` whose `service` label is `service`,
/// without creating it: 0 when it does not exist.
fn labelled(vec: &IntCounterVec, service: &str) -> u64 {
    vec.collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .find(|metric| {
            metric
                .get_label()
                .iter()
                .any(|label| label.name() == "service" && label.value() == service)
        })
        // A counter's value is a whole number kept as a float.
        .map_or(0, |metric| metric.get_counter().get_value() as u64)
}

/// Encodes every family of `registry` in the Prometheus text format.
///
/// Its argument is the `prometheus` crate's type, of the version Janus
/// depends on (see the [module docs](self#the-prometheus-crate-in-the-api)).
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
#[must_use]
pub fn encode_registry(registry: &Registry) -> String {
    encode_families(&registry.gather())
}

/// Encodes `families` in the Prometheus text format; logs a failure and
/// returns what was encoded, never panics.
pub(crate) fn encode_families(families: &[MetricFamily]) -> String {
    let mut buf = Vec::new();
    if let Err(error) = TextEncoder::new().encode(families, &mut buf) {
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

    /// A tree of three services, one with a name that needs escaping.
    struct Tree;

    impl ServiceStates for Tree {
        fn each_service(&self, f: &mut dyn FnMut(ServiceState<'_>)) {
            for (path, failures, phase, ready) in [
                ("desk/feed", 3, ServicePhase::Running, true),
                ("desk/a\"b\\c\nd", 0, ServicePhase::BackingOff, false),
                ("desk/pool", 0, ServicePhase::Starting, false),
            ] {
                f(ServiceState {
                    path,
                    failures,
                    phase,
                    ready,
                });
            }
        }
    }

    /// The lines of the per-service families in `text`, sorted.
    fn state_lines(text: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("janus_service_"))
            .collect();
        lines.sort_unstable();
        lines
    }

    #[test]
    fn state_families_as_text_are_what_the_registry_encodes() {
        let m = JanusMetrics::new();
        let tree: Arc<dyn ServiceStates> = Arc::new(Tree);
        m.watch(Arc::downgrade(&tree));
        let direct = m.encode();
        let gathered = encode_families(&m.registry.gather());
        assert_eq!(state_lines(&direct).len(), 6 + 9, "{direct}");
        assert_eq!(state_lines(&direct), state_lines(&gathered));
        assert!(
            direct.contains(
                "janus_service_phase{phase=\"backing_off\",service=\"desk/a\\\"b\\\\c\\nd\"} 1"
            ),
            "{direct}"
        );
        // Off: neither way has them.
        let m = m.with_service_states(false);
        assert!(state_lines(&m.encode()).is_empty());
        assert!(state_lines(&encode_families(&m.registry.gather())).is_empty());
        drop(tree);
    }

    #[test]
    fn global_instance_is_shared() {
        assert!(std::ptr::eq(metrics(), metrics()));
    }
}
