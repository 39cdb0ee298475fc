//! The `aapkit` binary: all behaviour lives in `aapkit_host::cli`.

fn main() {
    std::process::exit(aapkit_host::cli::run(std::env::args_os()));
}
