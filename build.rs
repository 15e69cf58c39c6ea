//! Records what `runaway --version` prints beside the version: the git commit the binary was
//! built from and the target it was built for. `RUNAWAY_GIT_COMMIT` (set by `scripts/release`)
//! wins; else `git` is asked, and a build outside a checkout (a source tarball, `cargo install`
//! from a copy) says `unknown` rather than guessing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUNAWAY_GIT_COMMIT");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=RUNAWAY_TARGET={target}");
    let commit = match std::env::var("RUNAWAY_GIT_COMMIT") {
        Ok(given) if !given.trim().is_empty() => given.trim().to_owned(),
        _ => {
            watch_head();
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=RUNAWAY_GIT_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

/// Re-run when HEAD moves: HEAD itself (a checkout), the branch it names or, while that branch
/// is only in the packed refs, the folder its loose ref will appear in (a commit), and the packed
/// refs (`git gc`). Only paths that exist: cargo takes a missing one as changed at every build.
fn watch_head() {
    let Some(dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) else {
        return;
    };
    let watch = |path: &Path| {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    };
    let head = dir.join("HEAD");
    watch(&head);
    watch(&dir.join("packed-refs"));
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(branch) = text.trim().strip_prefix("ref: ")
    {
        let branch = dir.join(branch);
        watch(&branch);
        if let Some(folder) = branch.parent() {
            watch(folder);
        }
    }
}
