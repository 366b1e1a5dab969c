#[janus::service(every = "1s")]
struct Feed;

fn main() {}
