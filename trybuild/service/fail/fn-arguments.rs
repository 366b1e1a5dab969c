// A function service's arguments are cloned for each run: one that is
// not `Clone` is reported at its type; the token comes last; arguments
// are `name: Type`.
use janus::prelude::*;

struct Socket;

#[janus::service]
async fn listen(socket: Socket, cancel: CancellationToken) -> janus::Result<()> {
    let _ = socket;
    cancel.cancelled().await;
    Ok(())
}

#[janus::service]
async fn poll(cancel: CancellationToken, url: String) -> janus::Result<()> {
    let _ = (url, cancel);
    Ok(())
}

#[janus::service(every = "1s")]
async fn sum((a, b): (u32, u32)) -> janus::Result<()> {
    let _ = a + b;
    Ok(())
}

fn main() {}
