#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[on_start]
    async fn connect(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
