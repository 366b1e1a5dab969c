#[janus::service(backoff(base = "10s", max = "1s"))]
struct Feed;

fn main() {}
