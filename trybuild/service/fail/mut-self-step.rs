#[janus::service]
struct Feed {
    polls: u64,
}

#[janus::service]
impl Feed {
    #[step]
    async fn poll(&mut self) -> anyhow::Result<()> {
        self.polls += 1;
        Ok(())
    }
}

fn main() {}
