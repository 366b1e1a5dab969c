#[janus::service]
enum Feed {
    Binance,
    Kraken,
}

fn main() {}
