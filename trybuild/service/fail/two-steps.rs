#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[step]
    async fn poll(&self) -> anyhow::Result<()> {
        Ok(())
    }

    #[step(every = "1s")]
    async fn flush(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
