#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[step]
    fn poll(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
