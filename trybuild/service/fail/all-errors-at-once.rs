// Every mistake of one attribute is reported, each at its token.
#[janus::service(restart = "sometimes", shutdown_timeout = "soon", colour = "blue")]
struct Feed;

fn main() {}
