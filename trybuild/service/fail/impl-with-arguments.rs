#[janus::service]
struct Feed;

#[janus::service(restart = "always")]
impl Feed {
    #[step]
    async fn poll(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
