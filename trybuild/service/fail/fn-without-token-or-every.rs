#[janus::service]
async fn poll() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}
