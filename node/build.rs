// The embedded migrations (`sqlx::migrate!`) are rebuilt when one is added.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
