//! Names the commit and the date of the build for `gio-ami --version`.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown commit".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=GIO_AMI_COMMIT={commit}{}", if dirty { "+changes" } else { "" });
    // Reproducible builds pin the date (https://reproducible-builds.org/specs/source-date-epoch/).
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).map(Duration::from_secs);
    let when = epoch.map_or_else(SystemTime::now, |e| UNIX_EPOCH + e);
    let date = humantime::format_rfc3339_seconds(when).to_string();
    println!("cargo:rustc-env=GIO_AMI_BUILD_DATE={}", &date[..10]);
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // A new commit (or a switch of branch) is a new version; git names the files that say so.
    for file in ["HEAD", "index"] {
        if let Some(path) = git(&["rev-parse", "--git-path", file]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(head) =
        git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r]))
    {
        println!("cargo:rerun-if-changed={head}");
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
