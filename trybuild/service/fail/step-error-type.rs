// A step's error must convert into `anyhow::Error` (std::io::Result
// does); a `String` does not: one error, at the return type.
#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[step(every = "1s")]
    async fn poll(&self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
