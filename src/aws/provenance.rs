//! Who made a change and when, for the `gio-ami:author` / `gio-ami:created-at` tags.

use crate::aws::Aws;
use crate::core::clock;
use serde::Serialize;
use std::process::Command;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Provenance {
    pub author: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl Provenance {
    /// The author is `GIO_AMI_AUTHOR`, else the git user (the person at the keyboard), else the
    /// AWS caller (a CI role), so a release always names someone to ask.
    pub async fn current(aws: &Aws) -> Provenance {
        let author = match std::env::var("GIO_AMI_AUTHOR").ok().filter(|a| !a.is_empty()) {
            Some(author) => author,
            None => match git_user() {
                Some(author) => author,
                None => aws.caller_arn().await.unwrap_or_else(|_| "unknown".to_string()),
            },
        };
        Provenance { author, created_at: clock::rfc3339(clock::now_epoch()) }
    }
}

fn git_user() -> Option<String> {
    let field = |key: &str| {
        let out = Command::new("git").args(["config", key]).output().ok()?;
        let value = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !value.is_empty()).then_some(value)
    };
    let name = field("user.name")?;
    Some(match field("user.email") {
        Some(email) => format!("{name} <{email}>"),
        None => name,
    })
}
