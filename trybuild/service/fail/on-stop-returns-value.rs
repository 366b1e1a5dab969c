#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[step]
    async fn poll(&self) -> anyhow::Result<()> {
        Ok(())
    }

    #[on_stop]
    async fn disconnect(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
