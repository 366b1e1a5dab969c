// A generic service holding any Send + Sync state.
use janus::prelude::*;

pub trait Source: Send + Sync + 'static {
    fn read(&self) -> u64;
}

#[janus::service(restart = "never")]
struct Reader<S: Source> {
    source: S,
}

#[janus::service]
impl<S: Source> Reader<S> {
    #[step(every = "1s")]
    async fn read(&self) -> anyhow::Result<()> {
        let _ = self.source.read();
        Ok(())
    }
}

struct Zero;
impl Source for Zero {
    fn read(&self) -> u64 {
        0
    }
}

fn main() {
    let reader = Reader { source: Zero };
    assert_eq!(reader.name(), "reader");
}
