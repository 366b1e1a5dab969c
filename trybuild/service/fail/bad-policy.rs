#[janus::service(restart = "sometimes")]
struct Feed;

fn main() {}
