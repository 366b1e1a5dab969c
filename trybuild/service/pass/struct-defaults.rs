// No configuration at all: the name is the type's, in kebab-case; a
// back-to-back step; an on_start returning nothing.
use janus::prelude::*;

#[janus::service]
struct HTTPPoller;

#[janus::service]
impl HTTPPoller {
    #[on_start]
    async fn warm_up(&self) {}

    #[step]
    async fn poll(&self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

fn main() {
    let poller = HTTPPoller;
    assert_eq!(poller.name(), "http-poller");
    assert_eq!(poller.restart_policy(), RestartPolicy::OnFailure);
    assert!(poller.backoff_config().is_none());
}
