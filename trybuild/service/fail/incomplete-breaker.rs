// A circuit breaker needs both its bounds; an invalid one is reported once,
// not also as incomplete.
#[janus::service(circuit_breaker(max_failures = 5))]
struct Feed;

#[janus::service(circuit_breaker(max_failures = 5, window = "0s"))]
struct Pump;

#[janus::service(circuit_breaker = "sometimes")]
struct Drain;

#[janus::service(circuit_breaker(max_failures = 5, window = "60s", reset_after = "0s"))]
struct Sump;

fn main() {}
