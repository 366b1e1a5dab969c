#[janus::service(nmae = "feed")]
struct Feed;

fn main() {}
