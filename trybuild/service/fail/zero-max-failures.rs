#[janus::service(circuit_breaker(max_failures = 0, window = "60s"))]
struct Feed;

fn main() {}
