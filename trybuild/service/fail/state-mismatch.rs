// The state a step borrows is the one #[on_start] makes: a mismatch is
// reported at the step's parameter.

struct Conn;
struct Db;

#[janus::service]
struct Writer;

#[janus::service]
impl Writer {
    #[on_start]
    async fn connect(&self) -> janus::Result<Conn> {
        Ok(Conn)
    }

    #[step(every = "1s")]
    async fn poll(&self, db: &mut Db) -> janus::Result<()> {
        let _ = db;
        Ok(())
    }
}

fn main() {}
