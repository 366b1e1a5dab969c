#[janus::service]
union Feed {
    a: u32,
    b: f32,
}

fn main() {}
