#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[step]
    async fn poll() -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
