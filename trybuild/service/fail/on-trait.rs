#[janus::service]
trait Feed {}

fn main() {}
