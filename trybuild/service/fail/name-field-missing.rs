#[janus::service(name = id)]
struct Feed {
    exchange: String,
}

fn main() {}
