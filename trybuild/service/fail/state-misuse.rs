// Per-run state: a step that borrows a state #[on_start] does not make,
// several steps without their triggers, a recv step without its message,
// an #[on_stop] parameter that is neither the state nor the reason.

struct Conn;

#[janus::service]
struct NoState;

#[janus::service]
impl NoState {
    #[on_start]
    async fn connect(&self) -> janus::Result<()> {
        Ok(())
    }

    #[step(every = "1s")]
    async fn poll(&self, conn: &mut Conn) -> janus::Result<()> {
        let _ = conn;
        Ok(())
    }
}

#[janus::service]
struct Untriggered {
    quotes: janus::Inbox<u64>,
}

#[janus::service]
impl Untriggered {
    #[step]
    async fn poll(&self) -> janus::Result<()> {
        Ok(())
    }

    #[step(recv = quotes)]
    async fn write(&self) -> janus::Result<()> {
        Ok(())
    }

    #[on_stop]
    async fn close(&self, code: u32) {
        let _ = code;
    }
}

fn main() {}
