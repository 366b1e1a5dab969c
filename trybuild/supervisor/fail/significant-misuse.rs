// As OTP: a significant child needs a supervisor with auto_shutdown, and
// cannot be permanent.

#[janus::service(every = "1s")]
async fn load() -> janus::Result<()> {
    Ok(())
}

fn main() {
    let _never = janus::supervisor! {
        name: "job",
        children: [load() => { significant: true }],
    };
    let _permanent = janus::supervisor! {
        name: "job",
        auto_shutdown: any_significant,
        children: [load() => { significant: true, restart: always }],
    };
    let _typo = janus::supervisor! {
        name: "job",
        auto_shutdown: any_signifcant,
        children: [load()],
    };
}
