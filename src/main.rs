//! The `k3rs` binary: command line and wiring only.

fn main() {
    println!("k3rs");
}
