//! What can be wrong with a spec, or with what a command asks of it: errors of this layer, which
//! `gio_ami::Error` carries as they are.

/// Everything about gio-ami.toml and the disks it (or `--disk`) describes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] SpecError),

    #[error(transparent)]
    Disk(#[from] DiskError),

    #[error(
        "no cluster `{cluster}` in gio-ami.toml (known: {}). Add a [clusters.{cluster}] table with \
         `region` and `ssm_parameter`, or run from the directory that holds the spec.",
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownCluster { cluster: String, known: Vec<String> },

    #[error(
        "cluster `{cluster}` has no `ssm_parameter` in gio-ami.toml, so there is nothing to publish \
         to. Add e.g. ssm_parameter = \"/gio/eks/{cluster}/node-ami\" to [clusters.{cluster}]."
    )]
    ClusterWithoutParameter { cluster: String },

    #[error(
        "no account `{account}` in gio-ami.toml (known: {}). Name one of its [accounts] tables, or \
         add [accounts.{account}] with its role_arn.",
        if known.is_empty() { "none: --account needs [accounts] tables".to_string() } else { known.join(", ") }
    )]
    UnknownAccount { account: String, known: Vec<String> },

    #[error(
        "account `{0}` of gio-ami.toml has no role_arn: it is the caller's own account, which \
         needs no sharing. Name another account, or give [accounts.{0}] its role_arn."
    )]
    OwnAccount(String),

    /// Its advice (`--from`, or the spec's promote_from) is the command line's: see
    /// `commands::advice`.
    #[error("cluster `{cluster}` has no cluster to take releases from.")]
    NoPromotionSource { cluster: String },
}

/// A spec that failed to load, pointing at the place.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct SpecError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

/// A disk specification that is malformed or outside AWS's limits; the text names the part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DiskError(pub String);
