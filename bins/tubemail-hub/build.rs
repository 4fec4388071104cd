//! Chooses the web UI build that the hub embeds, in every profile, and hands
//! its folder to rust-embed as `TUBEMAIL_UI_EMBED_DIR`:
//!
//! 1. `$TUBEMAIL_UI_DIST`, when set (a build made elsewhere);
//! 2. `frontend/dist` of the workspace (`make ui`);
//! 3. `ui-dist/` beside this file: the copy a published crate carries
//!    (`make crate-ui`), so `cargo install tubemail-hub` gets the UI;
//! 4. in a checkout with npm on the PATH, the UI built now (`npm ci` and
//!    `npm run build` in `frontend/`), so `cargo build --release` and
//!    `cargo install --path bins/tubemail-hub` get it too. Set
//!    `TUBEMAIL_UI_BUILD=0` to skip that;
//! 5. else an empty folder: the hub serves a page saying how to build it.
//!
//! Cargo reruns this script when the chosen folder changes, so the embedded
//! copy is never stale.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TUBEMAIL_UI_DIST");
    println!("cargo:rerun-if-env-changed=TUBEMAIL_UI_BUILD");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let frontend = manifest.join("../../frontend");
    let frontend = frontend.canonicalize().unwrap_or(frontend);

    let dir = chosen(&manifest, &frontend).unwrap_or_else(|| {
        let empty = out.join("ui-not-built");
        if let Err(e) = std::fs::create_dir_all(&empty) {
            println!("cargo:warning=cannot create {}: {e}", empty.display());
        }
        println!(
            "cargo:warning=the web UI is not built into this hub; run `make ui` \
             (or set TUBEMAIL_UI_DIST) and build again"
        );
        // Watch where a build would appear.
        if frontend.is_dir() {
            println!("cargo:rerun-if-changed={}", frontend.display());
        }
        empty
    });
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rustc-env=TUBEMAIL_UI_EMBED_DIR={}", dir.display());
}

fn built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

fn chosen(manifest: &Path, frontend: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TUBEMAIL_UI_DIST").map(PathBuf::from) {
        if built(&dir) {
            return Some(dir);
        }
        println!(
            "cargo:warning=TUBEMAIL_UI_DIST={} has no index.html; ignored",
            dir.display()
        );
    }
    let candidates = [frontend.join("dist"), manifest.join("ui-dist")];
    if let Some(dir) = candidates.into_iter().find(|d| built(d)) {
        return Some(dir);
    }
    let wanted = std::env::var("TUBEMAIL_UI_BUILD").map_or(true, |v| v != "0");
    if wanted && frontend.join("package.json").is_file() && build_with_npm(frontend) {
        let dist = frontend.join("dist");
        return built(&dist).then_some(dist);
    }
    None
}

/// `npm ci` then `npm run build` in `frontend`; false (with a warning) when
/// npm is missing or either step fails, for example offline.
fn build_with_npm(frontend: &Path) -> bool {
    for args in [
        &["ci", "--no-audit", "--no-fund", "--loglevel=error"][..],
        &["run", "build"][..],
    ] {
        // npm's output goes to stderr: cargo reads this script's stdout.
        let status = Command::new("npm")
            .args(args)
            .current_dir(frontend)
            .stdout(Stdio::from(std::io::stderr()))
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => {
                println!("cargo:warning=`npm {}` failed ({status})", args.join(" "));
                return false;
            }
            Err(e) => {
                println!("cargo:warning=npm not found ({e}), the web UI cannot be built");
                return false;
            }
        }
    }
    true
}
