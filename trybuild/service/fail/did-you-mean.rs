// A key or a word close to a valid one is suggested; a word written bare
// is asked for in quotes.
#[janus::service(restrat = "always", shutdown_timeout = "1s")]
struct Feed;

#[janus::service(restart = always)]
struct Pump;

#[janus::service(restart = "alway")]
struct Drain;

fn main() {}
