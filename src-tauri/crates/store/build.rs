fn main() {
    // The migrations are embedded with include_dir!; rebuild when they change.
    println!("cargo:rerun-if-changed=../../../migrations");
}
