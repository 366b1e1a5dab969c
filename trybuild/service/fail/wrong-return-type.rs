#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[step]
    async fn poll(&self) -> u64 {
        0
    }
}

fn main() {}
