// A step may return `std::io::Result<()>`: its error converts into
// `anyhow::Error`.
#[janus::service]
struct Reader;

#[janus::service]
impl Reader {
    #[step(every = "1s")]
    async fn read(&self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let _ = Reader;
}
