//! Rebuilds a release hub when the web UI build (`frontend/dist`) changes,
//! so the embedded copy is never stale. Debug builds read the files from
//! disk at request time and need no tracking.

use std::path::Path;

fn main() {
    const DIST: &str = "../../frontend/dist";
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        println!("cargo:rerun-if-changed=build.rs");
        return;
    }
    if Path::new(DIST).join("index.html").is_file() {
        println!("cargo:rerun-if-changed={DIST}");
    } else {
        // Not built yet: watch the folder it will appear in.
        println!("cargo:rerun-if-changed=../../frontend");
    }
}
