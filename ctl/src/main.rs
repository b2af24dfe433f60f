//! The `concordctl` binary: everything lives in the `ctl` library so tests can reach it.

fn main() {
    let code = ctl::run(std::env::args().collect());
    std::process::exit(code);
}
