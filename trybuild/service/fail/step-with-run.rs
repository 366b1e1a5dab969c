use janus::prelude::*;

#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[step]
    async fn poll(&self) -> anyhow::Result<()> {
        Ok(())
    }

    #[run]
    async fn run_all(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        cancel.cancelled().await;
        Ok(())
    }
}

fn main() {}
