struct Feed;

#[janus::service]
impl Feed {
    #[step]
    async fn poll(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
