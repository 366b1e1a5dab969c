#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[step(every = "0s")]
    async fn poll(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
