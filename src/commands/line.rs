//! The flags every verb takes, and the pieces of arguments several verbs share. Choices the
//! library names (`core::choice::Choice`) become possible values here, so no variant is spelled
//! twice.

use super::{Context, Ui, Verb};
use crate::core::choice::Choice;
use crate::core::signal::Interruption;
use crate::spec;
use crate::transfer::blocks;
use crate::{AwsOptions, Error, Result};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser};
use std::path::PathBuf;
use std::time::Duration;

/// When stderr's logs carry colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Colour {
    /// At a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    /// Even into a pipe or a file (a CI log that renders ANSI).
    Always,
    Never,
}

impl Colour {
    /// Colour is for a person at a terminal: by default never in a log file or a CI capture, and
    /// never when NO_COLOR is set to anything (https://no-color.org); `--color` decides otherwise.
    pub fn wanted(self, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            Colour::Always => true,
            Colour::Never => false,
            Colour::Auto => terminal && no_color.is_none_or(|value| value.is_empty()),
        }
    }
}

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document for scripts; field names are stable.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HistoryFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// A GitHub-flavoured Markdown table (what --update writes).
    Markdown,
    /// One JSON document, with the number of API calls the run made.
    Json,
    /// RFC 4180 CSV for spreadsheets.
    Csv,
}

/// The argument parser of a library choice: its names (with their help) as possible values.
pub(crate) fn choice<T: Choice + Send + Sync + Clone>() -> impl TypedValueParser<Value = T> {
    let values = T::ALL.iter().map(|v| PossibleValue::new(v.name()).help(v.help()));
    PossibleValuesParser::new(values).map(|name| T::from_name(&name).expect("clap checked the name"))
}

/// The version, the commit it was built from and the build date (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("GIO_AMI_COMMIT"),
    ", built ",
    env!("GIO_AMI_BUILD_DATE"),
    ")"
);

/// Builds, extends, finds, publishes and wipes custom AMIs for EKS worker nodes.
///
/// AWS access follows the usual chain: --profile / AWS_PROFILE, AWS_ACCESS_KEY_ID and friends,
/// SSO, instance roles. AWS_ENDPOINT_URL points every call at another endpoint (an emulator).
#[derive(Debug, Parser)]
#[command(name = "gio-ami", version = VERSION, max_term_width = 100)]
pub struct Cli {
    /// AWS region to work in (default: AWS_REGION, then the profile's region). `history`
    /// takes it several times to merge regions.
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Vec<String>,

    /// Named profile from ~/.aws/config (default: AWS_PROFILE, then `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Seconds one AWS request may take before it is abandoned and retried (5 attempts, with
    /// backoff; a call and its retries are bounded by 5× this plus 15 s). Raise it on a slow
    /// link.
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "GIO_AMI_TIMEOUT",
        default_value_t = crate::aws::ATTEMPT_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub timeout: u64,

    /// How results are printed on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,

    /// More detail on stderr: -v for progress details, -vv for every AWS call.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour in the logs on stderr: auto (at a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = Colour::Auto, value_name = "WHEN")]
    pub color: Colour,

    #[command(subcommand)]
    pub command: Verb,
}

/// Where a report reads: the caller's account, or every configured one.
#[derive(Debug, Args)]
pub struct OrgArgs {
    /// The spec naming the clusters ([clusters.NAME]) and the accounts ([accounts.NAME]) to
    /// read; without one, the caller's account alone.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,

    /// Only this configured account (repeatable; default: every [accounts.NAME] of the spec).
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
}

/// The AMIs a change is about, and its `--dry-run --yes`.
#[derive(Debug, Args)]
pub struct Targets {
    /// AMI ids (ami-…) of this account, several allowed.
    #[arg(value_name = "AMI_ID", required_unless_present = "release")]
    pub amis: Vec<String>,

    /// Every AMI of this release in the current --region: a release set's every variant.
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,

    #[command(flatten)]
    pub apply: super::Apply,
}

/// How many blocks a transfer keeps in flight.
#[derive(Debug, Args)]
pub struct Workers {
    /// Blocks in flight at once (1-256).
    #[arg(long, default_value_t = blocks::DEFAULT_WORKERS,
          value_parser = clap::value_parser!(u16).range(1..=blocks::MAX_WORKERS as i64).map(usize::from))]
    pub workers: usize,
}

impl Cli {
    /// The global flags resolved, in one step, into what the verb runs with.
    pub fn resolve<'a>(self, interruption: Interruption, ui: &'a dyn Ui) -> Result<(Verb, Context<'a>)> {
        if self.region.len() > 1 && !matches!(self.command, Verb::History(_)) {
            return Err(Error::Regions(self.region.len()));
        }
        let options = AwsOptions {
            region: self.region.first().cloned(),
            profile: self.profile,
            attempt_timeout: Some(Duration::from_secs(self.timeout)),
            interruption,
        };
        Ok((self.command, Context { options, regions: self.region, ui }))
    }
}

#[cfg(test)]
mod tests {
    use super::Colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_at_a_terminal_and_only_without_no_color() {
        assert!(Colour::Auto.wanted(true, None));
        assert!(Colour::Auto.wanted(true, Some(OsStr::new(""))), "an empty NO_COLOR does not count");
        assert!(!Colour::Auto.wanted(true, Some(OsStr::new("1"))));
        assert!(!Colour::Auto.wanted(false, None), "a pipe or a file gets plain text");
        assert!(Colour::Always.wanted(false, Some(OsStr::new("1"))), "asked for: the user knows");
        assert!(!Colour::Never.wanted(true, None));
    }
}
