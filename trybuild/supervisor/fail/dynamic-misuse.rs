// A dynamic supervisor has a template instead of children, restarts one
// for one, and stops its children together; `max_children` needs one.

#[janus::service(every = "1s")]
async fn feed() -> janus::Result<()> {
    Ok(())
}

fn main() {
    let _both = janus::supervisor! {
        name: "pool",
        dynamic: |n: u32| feed(),
        children: [feed()],
    };
    let _misplaced = janus::supervisor! {
        name: "pool",
        strategy: one_for_all,
        start: concurrent,
        shutdown: { timeout: "1s", order: reverse },
        dynamic: |n: u32| feed(),
    };
    let _no_template = janus::supervisor! {
        name: "desk",
        max_children: 10,
        children: [feed()],
    };
    let _zero = janus::supervisor! {
        name: "pool",
        dynamic: |n: u32| feed(),
        max_children: 0,
    };
    let _not_a_template = janus::supervisor! {
        name: "pool",
        dynamic: "feed",
    };
}
