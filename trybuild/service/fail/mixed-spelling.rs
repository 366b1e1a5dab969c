// The attribute writes `key = value`; `supervisor!`'s `key: value` is named.
#[janus::service(restart: "always")]
struct Feed;

fn main() {}
