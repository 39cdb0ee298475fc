fn main() {
    eprintln!("aapkit: not yet wired");
    std::process::exit(2);
}
