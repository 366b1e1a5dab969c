// Per-run state, an inbox, several triggers, and an #[on_stop] told why.
use janus::prelude::*;

struct Conn {
    sent: u64,
}

#[janus::service]
struct Writer {
    quotes: janus::Inbox<u64>,
}

#[janus::service]
impl Writer {
    #[on_start]
    async fn connect(&self) -> janus::Result<Conn> {
        Ok(Conn { sent: 0 })
    }

    #[step(recv = quotes)]
    async fn write(&self, conn: &mut Conn, quote: u64) -> std::io::Result<()> {
        conn.sent += quote;
        Ok(())
    }

    #[step(every = "1s")]
    async fn flush(&self, conn: &mut Conn) -> janus::Result<()> {
        conn.sent = 0;
        Ok(())
    }

    #[on_stop]
    async fn close(&self, conn: Option<Conn>, why: StopReason) {
        let _ = (conn.map(|c| c.sent), why);
    }
}

fn main() {
    let (_quotes, inbox) = janus::Inbox::channel(8);
    let writer = Writer { quotes: inbox };
    let _: &dyn JanusService = &writer;
}
