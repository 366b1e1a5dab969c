#[janus::service(shutdown_timeout = "5 parsecs")]
struct Feed;

fn main() {}
