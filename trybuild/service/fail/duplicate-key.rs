#[janus::service(restart = "always", restart = "never")]
struct Feed;

fn main() {}
