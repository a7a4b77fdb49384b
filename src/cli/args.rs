//! The command line: every verb, its options and the help that teaches them. Choices the
//! library names (`core::choice::Choice`) become possible values here, so no variant is spelled
//! twice.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use gio_ami::commands::cost;
use gio_ami::core::choice::Choice;
use gio_ami::core::kinds::{Arch, BootMode, Engine, Family, Variant};
use gio_ami::engines::packer::TemplateFormat;
use gio_ami::spec;
use gio_ami::transfer::blocks;
use std::path::PathBuf;

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
fn choice<T: Choice + Send + Sync + Clone>() -> impl TypedValueParser<Value = T> {
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
        default_value_t = gio_ami::aws::ATTEMPT_TIMEOUT.as_secs(),
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
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented gio-ami.toml to start from, and its JSON Schema beside it
    /// (gio-ami.schema.json, which the spec's first line points editors at).
    Init {
        /// Where to write it.
        #[arg(default_value = spec::DEFAULT_PATH)]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },

    /// Validate a spec without touching AWS: errors point at file:line:column and the key.
    Check {
        #[arg(default_value = spec::DEFAULT_PATH, value_name = "SPEC")]
        spec: PathBuf,
    },

    /// Print the current EKS-optimized AMI for a Kubernetes version (SSM public parameters).
    ///
    /// Example: gio-ami base --kubernetes 1.31 --family al2023 --arch arm64
    Base {
        /// The Kubernetes minor version, e.g. 1.31
        #[arg(long, value_name = "VERSION")]
        kubernetes: String,
        #[arg(long, value_parser = choice::<Family>(), default_value = "al2023")]
        family: Family,
        #[arg(long, value_parser = choice::<Arch>(), default_value = "x86_64")]
        arch: Arch,
        #[arg(long, value_parser = choice::<Variant>(), default_value = "standard")]
        variant: Variant,
    },

    /// Build the spec's AMI and print its id.
    ///
    /// The native engine: the builder provisions itself (user data or SSM) and powers off; no
    /// SSH. On any error, Ctrl-C or SIGTERM, everything the build created is removed before
    /// exit; `gio-ami gc` removes what a killed build left.
    ///
    /// The packer engine (--engine packer, or engine = "packer" in the spec) runs real
    /// `packer build` on the template `gio-ami packer render` writes, pinned on the resolved
    /// base; each Packer step is one progress line, its errors are shown with their step, and
    /// the AMI and its snapshots get the same gio-ami:* tags. Ctrl-C stops packer (it removes
    /// its own instance) and reports what remains.
    ///
    /// Examples:
    ///   gio-ami build
    ///   gio-ami build specs/node.toml --engine packer
    #[command(verbatim_doc_comment)]
    Build {
        #[arg(default_value = spec::DEFAULT_PATH, value_name = "SPEC")]
        spec: PathBuf,
        /// native | packer (default: the spec's build.engine).
        #[arg(long, value_parser = choice::<Engine>())]
        engine: Option<Engine>,
        /// Print the base and the name the build would use, and launch nothing.
        #[arg(long)]
        dry_run: bool,
    },

    /// Work with Packer: render the spec as a template teams can keep running with `packer`.
    #[command(subcommand)]
    Packer(PackerCommand),

    /// Bring AMIs built without gio-ami (earlier `packer build` runs) into the history.
    ///
    /// Tags each AMI and its snapshots with gio-ami:release (the AMI name), created-at (the
    /// manifest's build time, else the AMI's creation), author, contact and description.
    /// Tags already there stay unless given here, so a re-run changes nothing.
    ///
    /// Examples:
    ///   gio-ami adopt --packer-manifest manifest.json --contact ops@example.org
    ///   gio-ami adopt ami-0abc… ami-0def… --author "Ada <ada@example.org>" --dry-run
    ///   gio-ami adopt ami-0f50e42c76b6fa038 --release gio-node-2 --description "t2.small => t2.medium"
    #[command(verbatim_doc_comment)]
    Adopt(AdoptArgs),

    /// Remove what killed builds left behind: builder instances, pre-snapshots, unfinished AMIs
    /// (found by their gio-ami:build-id tag; live builds are never touched).
    Gc(GcArgs),

    /// List the account's own AMIs, newest first, with their snapshots and size (every
    /// configured account and region of gio-ami.toml's [accounts], with ACCOUNT and REGION
    /// columns).
    Images(ImagesArgs),

    /// Show the snapshots behind AMIs (exact, from their mappings), or the orphaned ones.
    ///
    /// `gio-ami snapshots ami-0abc…` reads the AMI's block device mappings and describes exactly
    /// those snapshots: two API calls, whatever the account holds.
    /// `gio-ami snapshots --orphans` lists the account's snapshots that no AMI uses, with the
    /// AMI each was made for (they are billed until deleted).
    Snapshots(SnapshotsArgs),

    /// Add EBS disks to an AMI without any instance (a new AMI from its snapshots).
    #[command(subcommand)]
    Disks(DisksCommand),

    /// Upload a local disk image straight to an EBS snapshot, and optionally register it as
    /// an AMI: no builder instance, no S3 bucket.
    ///
    /// IMAGE is a raw file or a block device; qcow2, VMDK, VHD and VHDX images are converted
    /// to raw with `qemu-img` first. The snapshot is the image's size rounded up to whole GiB.
    /// Blocks of zeros are never sent, so a sparse 20 GiB image with 2 GiB of data uploads
    /// 2 GiB. Ctrl-C or any failure deletes the unfinished snapshot.
    ///
    /// Examples:
    ///   gio-ami upload build/gio-node.raw --name gio-node-1.31-20261125 --register
    ///   gio-ami upload node.qcow2 --register --arch arm64 --disk /dev/xvdb=50:gp3
    ///   gio-ami upload /dev/nbd0 --name scratch --tag team=platform --output json
    ///   gio-ami upload disk.raw --register --dry-run
    #[command(verbatim_doc_comment)]
    Upload(UploadArgs),

    /// Write a snapshot's blocks into a local file (sparse): the reverse of `upload`.
    ///
    /// Useful to check an upload byte for byte, or to look inside an AMI's root disk
    /// (`gio-ami snapshots ami-…` names its snapshots; `sudo losetup -fP FILE` mounts it).
    ///
    /// Example:
    ///   gio-ami download snap-0123456789abcdef0 root.raw && cmp root.raw build/gio-node.raw
    #[command(verbatim_doc_comment)]
    Download(DownloadArgs),

    /// Show where an AMI comes from and what was derived from it (gio-ami:parent-ami tags).
    Lineage {
        /// The AMI id (ami-…).
        #[arg(value_name = "AMI_ID")]
        ami: String,
    },

    /// Deregister AMIs and delete the snapshots behind them, never touching one in use.
    ///
    /// Prints the plan (each AMI, its snapshots, the GiB freed, every refusal and why), asks on a
    /// terminal unless --yes, then applies it. An AMI is refused, and nothing is changed, while
    /// anything uses it: an instance that is not terminated, any version of any launch template,
    /// an Auto Scaling group (launch template, mixed-instances overrides, launch configuration),
    /// an EKS managed nodegroup (through its launch template), an SSM parameter holding its id.
    /// A look-up that fails (say, no eks:ListClusters permission) refuses too. --force wipes
    /// anyway. A snapshot another AMI still maps is never deleted, even with --force.
    ///
    /// Re-running after a failure finishes the job: snapshots are tagged
    /// gio-ami:wiped-ami:AMI before their AMI is deregistered, and "already gone" counts as done.
    ///
    /// Examples:
    ///   gio-ami wipe ami-0abc… --dry-run              # the plan, nothing changed
    ///   gio-ami wipe ami-0abc… ami-0def… --yes        # no question (scripts, CI)
    ///   gio-ami wipe --chain ami-0abc… --yes          # it and every AMI derived from it
    ///   gio-ami wipe ami-0abc… --output json --yes    # plan and outcome per resource
    ///
    /// Undo: while a Recycle Bin rule keeps them, `gio-ami restore AMI_ID` brings the AMI and
    /// its snapshots back (see `gio-ami recycle-bin`).
    #[command(verbatim_doc_comment)]
    Wipe(WipeArgs),

    /// Bring wiped AMIs back from the Recycle Bin, with the snapshots their wipe deleted.
    ///
    /// A wipe can be undone while a Recycle Bin retention rule keeps what it deleted (`gio-ami
    /// recycle-bin --retain 7d` makes such rules; the wipe's plan says, per AMI and snapshot,
    /// until when, or that the deletion is final). The snapshots are found by the
    /// gio-ami:wiped-ami:AMI mark the wipe set on them (or, for an AMI another tool deregistered,
    /// by the description EC2 gave the snapshots it made for it), restored first, then the AMI:
    /// AWS restores an AMI only once all its snapshots are back. It comes back as it was: its
    /// mappings, tags and launch permissions. An AMI no longer in the bin, or one of whose
    /// snapshots is not, is named as gone for good, and the command exits 1 after restoring the
    /// others. An AMI that is already available is left alone, so a re-run finishes the job.
    ///
    /// Examples:
    ///   gio-ami restore ami-0abc… --dry-run           # what would come back, until when
    ///   gio-ami restore ami-0abc… ami-0def…
    #[command(verbatim_doc_comment)]
    Restore(RestoreArgs),

    /// Make every later wipe undoable: Recycle Bin retention rules for gio-ami's AMIs and snapshots.
    ///
    /// Creates one tag-level retention rule for AMIs and one for snapshots in the region, each
    /// on the gio-ami:release tag every release and its snapshots carry, so that a deregistered
    /// AMI or a deleted snapshot stays in the Recycle Bin for --retain (whole days, 1 to 365)
    /// and `gio-ami restore` can bring it back. Re-running with the same retention changes
    /// nothing; with another it updates the rules (a locked rule is refused). Resources in the
    /// bin are billed as before; other rules of the region are shown, and where one matches
    /// with a longer retention, it wins (AWS applies the longest).
    ///
    /// Examples:
    ///   gio-ami recycle-bin --retain 7d --dry-run
    ///   gio-ami recycle-bin --retain 30d
    #[command(verbatim_doc_comment)]
    RecycleBin(RecycleBinArgs),

    /// Move the snapshots of releases kept only for rollback to the cheaper archive tier.
    ///
    /// AWS archives no snapshot an AMI maps, so each AMI's registration (name, boot settings,
    /// mappings, tags) is first kept in the SSM parameter /gio-ami/archived/AMI_ID and its
    /// snapshots tagged gio-ami:archived-ami; then the AMI is deregistered and its snapshots
    /// archived (ModifySnapshotTier). `gio-ami unarchive AMI_ID` brings it back. An AMI is
    /// refused on the same guards as `wipe` (anything that uses it, an SSM parameter naming it,
    /// deregistration protection), and when another AMI maps one of its snapshots. Archived
    /// snapshots are billed for at least 90 days, and restoring one takes up to 72 hours: the
    /// plan says so. Re-running after a failure finishes the job from the record.
    ///
    /// Examples:
    ///   gio-ami archive ami-0abc… --dry-run
    ///   gio-ami archive ami-0abc… ami-0def… --yes
    #[command(verbatim_doc_comment)]
    Archive(ArchiveArgs),

    /// Bring archived releases back: restore their snapshots, then register the AMI again.
    ///
    /// The first run starts RestoreSnapshotTier for each archived snapshot (AWS takes up to 72
    /// hours) and says so; a run once they are back registers the AMI from the record `archive`
    /// kept, with its name, boot settings, mappings and tags (and gio-ami:unarchived-from: the
    /// id it had), then removes the record. The AMI gets a new id: publish it again where it
    /// should run. --temporary restores the snapshots for that many days only, after which AWS
    /// moves them back to the archive and the AMI stops launching.
    ///
    /// Examples:
    ///   gio-ami unarchive ami-0abc…                   # starts the restore
    ///   gio-ami unarchive ami-0abc…                   # up to 72 hours later: registers it
    ///   gio-ami unarchive ami-0abc… --temporary 7d    # back for a week
    #[command(verbatim_doc_comment)]
    Unarchive(UnarchiveArgs),

    /// Retention per release family: keep the newest N, wipe (or disable) the older rest.
    ///
    /// A family is the AMIs whose name starts with a --release-prefix, or that carry a --tag.
    /// In each, the newest --keep AMIs stay, and of the others those older than --older-than
    /// go; an AMI any family keeps is kept. What goes passes the same guards as `wipe`: an AMI
    /// in use is never touched (it is listed, with its users), and a snapshot another AMI maps
    /// is kept. Earlier lifecycle stages instead of deletion: --deprecate (EnableImageDeprecation
    /// from now) or --disable (DisableImage: no launches, and AWS removes every launch
    /// permission; gio-ami records them on the AMI first, and `gio-ami enable` gives both back).
    ///
    /// Examples:
    ///   gio-ami prune --release-prefix gio-node- --keep 3 --older-than 90d --dry-run
    ///   gio-ami prune --tag team=platform --keep 5 --yes
    ///   gio-ami prune --release-prefix gio-node- --older-than 30d --deprecate --yes
    ///   gio-ami prune --release-prefix gio-node- --older-than 60d --disable --yes
    #[command(verbatim_doc_comment)]
    Prune(PruneArgs),

    /// The release history: one row per release, one column per cluster, kept true from AWS.
    ///
    /// Rows are the AMIs carrying gio-ami:release (built by gio-ami, or adopted), newest first;
    /// a release copied to other regions is one row listing each region's AMI. Columns are the
    /// clusters of gio-ami.toml ([clusters.NAME]), then date, author, contact, description,
    /// region, AMI and parent (disk-chain members). A cluster cell is ● when the cluster runs the
    /// AMI now (its EKS managed nodegroups' launch templates, its instances tagged
    /// eks:cluster-name or kubernetes.io/cluster/NAME), ○ when it was published there before.
    ///
    /// Examples:
    ///   gio-ami history
    ///   gio-ami history --cluster prod
    ///   gio-ami history --region eu-west-1 --region us-east-1 --format csv > releases.csv
    ///   gio-ami history --format markdown --update README.md
    ///
    /// --update replaces only the lines between <!-- gio-ami:history:begin --> and
    /// <!-- gio-ami:history:end --> in the file, and refuses when the markers are missing or
    /// duplicated.
    ///
    /// With [accounts.NAME] tables in gio-ami.toml, every configured account and region is read
    /// (an ACCOUNT column joins REGION), each cluster's column comes from its own account
    /// ([clusters.NAME] account = "..."), and --account NAME narrows the accounts. An account
    /// that cannot be read is a warning; its releases are missing and its clusters show ?.
    #[command(verbatim_doc_comment)]
    History(HistoryArgs),

    /// Publish an AMI to a cluster: its SSM parameter (DataType aws:ec2:image) and history mark.
    ///
    /// The parameter comes from [clusters.NAME] ssm_parameter in gio-ami.toml; Karpenter
    /// (amiSelectorTerms ssmParameter), Terraform (aws_ssm_parameter) and Pulumi
    /// (ssm.getParameter) read it. SSM keeps every earlier value: --rollback publishes the
    /// previous one again. The AMI must be available and in the cluster's region. A cluster in
    /// another account ([clusters.NAME] account) gets the parameter there, through that
    /// account's role, once it can launch the AMI (`gio-ami share AMI --account NAME`).
    ///
    /// Examples:
    ///   gio-ami publish ami-0abc… --cluster prod --dry-run
    ///   gio-ami publish ami-0abc… --cluster prod
    ///   gio-ami publish --rollback --cluster prod
    #[command(verbatim_doc_comment)]
    Publish(PublishArgs),

    /// Promote the release one cluster runs to the next (staging -> prod), once it soaked.
    ///
    /// Takes the AMI the source cluster's parameter holds now and writes it into the target's
    /// (DataType aws:ec2:image), with the history mark and, where the target has protect = true,
    /// deregistration protection. Refused, with nothing changed, unless every gate passes: the
    /// source has held it for the soak (from the parameter's history), the source runs it
    /// (nodegroup launch templates, tagged nodes), it is in the target's region (or --copy copies
    /// it first), not disabled, not deprecated, and not already the target's. The plan shows
    /// each gate with what it measured. The source and the soak come from [clusters.TARGET]
    /// promote_from and soak in gio-ami.toml unless given. A target in another account gets
    /// the parameter there; the plan grants that account the AMI first if it cannot launch it.
    ///
    /// Examples:
    ///   gio-ami promote --to prod --dry-run
    ///   gio-ami promote --to prod
    ///   gio-ami promote --to prod --from staging --soak 0s   # an urgent fix, said so in the plan
    #[command(verbatim_doc_comment)]
    Promote(PromoteArgs),

    /// Which clusters run a node image whose EKS-optimized base has newer releases.
    ///
    /// Per cluster: the releases it runs (observed) and was published, the base each was built
    /// on (recorded in its tags at build and adopt time), the base recommended now for the same
    /// family, Kubernetes version, architecture and variant (the public SSM parameters), the days
    /// between the two and whether the old one is deprecated, the control plane's version and
    /// support status (EKS), and the nodes' version skew. With --fail-if-behind AGE it exits 3
    /// when a cluster runs a release more than AGE behind (0d: any newer base), for a scheduled
    /// job; 1 means it could not tell. Requests grow with clusters, not releases.
    ///
    /// Examples:
    ///   gio-ami outdated
    ///   gio-ami outdated --cluster prod --fail-if-behind 30d
    ///   gio-ami outdated --output json | jq '.clusters[] | {name, behind: [.releases[].behind_days]}'
    ///
    /// A cluster of another [accounts.NAME] is read in that account, through its role.
    #[command(verbatim_doc_comment)]
    Outdated(OutdatedArgs),

    /// Copy an AMI to other regions, all at once, tagged like the source; waits until the
    /// copies are available and prints their ids. Re-running finds the earlier copies.
    ///
    /// Examples:
    ///   gio-ami copy ami-0abc… --to us-east-1 --to ap-southeast-2
    ///   gio-ami copy ami-0abc… --to us-east-1 --kms-key us-east-1=alias/ami-copies
    #[command(verbatim_doc_comment)]
    Copy(CopyArgs),

    /// Share AMIs with other accounts (launch permission and the snapshots'
    /// createVolumePermission), organizations or OUs (launch permission: AWS lets their
    /// members' launches read the snapshots), or take the share back with --unshare. Safe to
    /// repeat.
    ///
    /// Examples:
    ///   gio-ami share ami-0abc… --account 111122223333 --account 444455556666
    ///   gio-ami share ami-0abc… --org arn:aws:organizations::111122223333:organization/o-exampleorg1
    ///   gio-ami share ami-0abc… --ou arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-example1
    ///   gio-ami share ami-0abc… --account 111122223333 --unshare
    #[command(verbatim_doc_comment)]
    Share(ShareArgs),

    /// Make disabled AMIs launchable again (EnableImage), and grant launch access back to the
    /// accounts, organizations and OUs their disabling took it from (`prune --disable` records
    /// them in the gio-ami:launch-grants tag; AWS does not give them back itself). Safe to repeat.
    ///
    /// Example: gio-ami enable ami-0abc…
    #[command(verbatim_doc_comment)]
    Enable(EnableArgs),

    /// Protect AMIs from deregistration (EnableImageDeregistrationProtection), or lift it with
    /// --unprotect. While protected, nobody can deregister them, `wipe --force` included; with
    /// --cooldown, they stay protected 24 hours after the protection is lifted. Safe to repeat.
    ///
    /// Examples:
    ///   gio-ami protect ami-0abc… --cooldown
    ///   gio-ami protect ami-0abc… --unprotect
    #[command(verbatim_doc_comment)]
    Protect(ProtectArgs),

    /// What the AMIs cost to keep: snapshot GiB and USD per month by release and in total,
    /// orphan snapshots, and AMIs no cluster of gio-ami.toml runs.
    ///
    /// Sizes are full volume sizes; EBS bills the blocks each snapshot changed, so this is an
    /// upper bound.
    ///
    /// Examples:
    ///   gio-ami cost
    ///   gio-ami cost --price 0.0125 --output json
    ///   gio-ami cost --account prod
    ///
    /// With [accounts.NAME] tables in gio-ami.toml: one row per account and region, and the
    /// totals; what the clusters run is read in each cluster's own account.
    #[command(verbatim_doc_comment)]
    Cost(CostArgs),

    /// Print a shell completion script.
    ///
    /// Install it where the shell looks, e.g.:
    ///   gio-ami completions bash > ~/.local/share/bash-completion/completions/gio-ami
    ///   gio-ami completions zsh > ~/.zfunc/_gio-ami        (with fpath+=~/.zfunc)
    ///   gio-ami completions fish > ~/.config/fish/completions/gio-ami.fish
    #[command(verbatim_doc_comment)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Write one man page per command (gio-ami.1, gio-ami-build.1, gio-ami-disks-add.1, …).
    ///
    /// Read one with `man -l DIR/gio-ami-build.1`, or put DIR on MANPATH (e.g. --out
    /// ~/.local/share/man/man1).
    Man {
        /// The directory to write the pages into (created if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },

    /// Print the JSON Schema of gio-ami.toml, for editors (taplo, Even Better TOML) to validate
    /// and complete the spec. `gio-ami init` writes the spec's `#:schema` line and this file.
    Schema,
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

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(flatten)]
    pub org: OrgArgs,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Print the plan, remove nothing. With [accounts], the plan covers every configured
    /// account and region; without --dry-run, gc removes only in the caller's.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub org: OrgArgs,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// How many of the newest AMIs of each family always stay.
    #[arg(long, default_value_t = 3)]
    pub keep: usize,

    /// Only AMIs older than this go (e.g. 90d, 12w, 36h); default: any age.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub older_than: Option<std::time::Duration>,

    /// Keep any AMI an instance was launched from within this long (e.g. 90d), whatever its
    /// age. Read from EC2's lastLaunchedTime, which AWS records up to a day late: the usage
    /// guards still see instances that run now.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub unused_for: Option<std::time::Duration>,

    /// A family: the AMIs whose name starts with this (several allowed).
    #[arg(long, value_name = "PREFIX", required_unless_present = "tags")]
    pub release_prefix: Vec<String>,

    /// A family: the AMIs carrying this tag, KEY=VALUE (several allowed).
    #[arg(long = "tag", id = "tags", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// Disable the AMIs instead of wiping them (their snapshots stay).
    #[arg(long, conflicts_with = "deprecate")]
    pub disable: bool,

    /// Deprecate the AMIs from now instead of wiping them (still launchable by id).
    #[arg(long)]
    pub deprecate: bool,

    /// Print the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// The spec whose [accounts] are checked for use of AMIs shared with them.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,
}

#[derive(Debug, Args)]
pub struct WipeArgs {
    /// AMI ids (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    /// Print the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Wipe AMIs that are in use (or whose use could not be checked). Snapshots other AMIs map
    /// are still kept.
    #[arg(long)]
    pub force: bool,

    /// Also wipe every AMI derived from these (gio-ami:parent-ami tags, any depth); each shared
    /// snapshot is deleted once, after its last AMI.
    #[arg(long)]
    pub chain: bool,

    /// The spec whose [accounts] are checked for use of AMIs shared with them.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The ids of wiped AMIs (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    /// Print the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The ids of the AMIs to archive (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    /// Print the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct UnarchiveArgs {
    /// The ids the AMIs had when they were archived (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    /// Restore the snapshots for this many days only (1d to 180d, whole days); default: for good.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub temporary: Option<std::time::Duration>,

    /// Print the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RecycleBinArgs {
    /// How long the Recycle Bin keeps a wiped AMI and its snapshots, in whole days (7d, 2w).
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub retain: std::time::Duration,

    /// Print the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum DisksCommand {
    /// Register a new AMI: the source's root and disks (same snapshots, same boot settings)
    /// plus new EBS volumes. No instance is launched; it takes seconds.
    ///
    /// With --chain, each disk makes one more AMI, registered from the previous one (the
    /// incremental pipeline: 3 disks -> 3 AMIs, the last one with all three).
    ///
    /// Examples:
    ///   gio-ami disks add ami-0abc… --disk /dev/xvdb=50
    ///   gio-ami disks add ami-0abc… --disk /dev/xvdc=100:io2:iops=4000 --disk /dev/xvdd=snap-0123…:200
    ///   gio-ami disks add ami-0abc… --chain --disk /dev/xvdb=50 --disk /dev/xvdc=50
    #[command(verbatim_doc_comment)]
    Add(DisksAddArgs),
}

#[derive(Debug, Args)]
pub struct DisksAddArgs {
    /// The AMI to extend (ami-…).
    #[arg(value_name = "SOURCE_AMI")]
    pub source: String,

    /// A disk to add: DEVICE=SIZE[:TYPE][:iops=N][:throughput=N][:encrypted]
    /// [:delete-on-termination=false], or DEVICE=snap-ID[:SIZE] for a disk made from a
    /// snapshot. SIZE in GiB; TYPE gp3 (default), gp2, io1, io2, st1, sc1, standard.
    #[arg(long = "disk", value_name = "SPEC", required = true)]
    pub disks: Vec<String>,

    /// Name of the new AMI (default: the source's name and the added devices); with --chain,
    /// the prefix of each member's name.
    #[arg(long)]
    pub name: Option<String>,

    /// One AMI per disk, each registered from the previous one.
    #[arg(long)]
    pub chain: bool,

    /// Print what would be registered, and register nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum PackerCommand {
    /// Write a Packer template (amazon-ebs builder) from the spec; prints its path.
    ///
    /// The template has the spec's instance type, base (a source_ami_filter on the
    /// EKS-optimized AMIs, or the pinned id with --resolve or base.ami), root and extra disks
    /// in launch_block_device_mappings and ami_block_device_mappings, gio-ami:* tags on the
    /// AMI and its snapshots, the provisioning scripts as shell provisioners (paths as seen
    /// from the current directory) and a manifest post-processor. AMI names end in a
    /// timestamp and a random part, so two builds never collide.
    ///
    /// Variables: region, instance_type, ami_name, author, ssh_username, and source_ami (or
    /// source_ami_name for the filter), e.g.
    ///   gio-ami packer render -o packer/
    ///   packer build -var region=eu-west-1 -var instance_type=m5.large packer/template.json
    ///   gio-ami packer render --format hcl --resolve -o packer/
    ///
    /// With AWS_ENDPOINT_URL (or --endpoint) set, the template targets that endpoint (an
    /// emulator): custom_endpoint_ec2, skipped credential/region/metadata checks, and no
    /// communicator, so it cannot run provisioning scripts.
    #[command(verbatim_doc_comment)]
    Render {
        #[arg(default_value = spec::DEFAULT_PATH, value_name = "SPEC")]
        spec: PathBuf,
        /// json (template.json) or hcl (template.pkr.hcl).
        #[arg(long, value_parser = choice::<TemplateFormat>(), default_value = "json")]
        format: TemplateFormat,
        /// Directory to write the template in.
        #[arg(short = 'o', long = "out", value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// Pin the base AMI resolved now (SSM) instead of letting Packer search by name.
        #[arg(long)]
        resolve: bool,
        /// A non-AWS EC2 endpoint (an emulator) for the template to use.
        #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
        endpoint: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The AMI to copy (ami-…), in the current --region.
    #[arg(value_name = "AMI_ID")]
    pub ami: String,

    /// Destination region (repeatable).
    #[arg(long = "to", value_name = "REGION", required = true)]
    pub to: Vec<String>,

    /// Encrypt the copy in REGION with this KMS key (REGION=KEY, repeatable).
    #[arg(long = "kms-key", value_name = "REGION=KEY")]
    pub kms_keys: Vec<String>,

    /// Print which regions get a copy and which earlier copies are reused, and copy nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// AMIs of this account (ami-…).
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    /// Account to share with: its id (12 digits) or an [accounts.NAME] of the spec (repeatable).
    #[arg(long = "account", value_name = "ID|NAME", required_unless_present_any = ["organizations", "units"])]
    pub accounts: Vec<String>,

    /// Organization to share with: its ARN (repeatable), e.g.
    /// arn:aws:organizations::111122223333:organization/o-exampleorg1.
    #[arg(long = "org", value_name = "ARN")]
    pub organizations: Vec<String>,

    /// Organizational unit to share with: its ARN (repeatable), e.g.
    /// arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-example1.
    #[arg(long = "ou", value_name = "ARN")]
    pub units: Vec<String>,

    /// Revoke instead of grant.
    #[arg(long)]
    pub unshare: bool,

    /// Print the permission changes, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation on a terminal (--unshare asks).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Go on although the Allowed AMIs setting of an account it goes to refuses the AMI.
    #[arg(long)]
    pub force: bool,

    /// The spec whose [accounts] may be named with --account, and whose Allowed AMIs settings
    /// are checked before sharing.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProtectArgs {
    /// AMIs of this account (ami-…).
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    /// Lift the protection instead (an AMI protected with a cooldown stays protected 24 more
    /// hours).
    #[arg(long, conflicts_with = "cooldown")]
    pub unprotect: bool,

    /// Keep the AMI protected for 24 hours after the protection is lifted: time for someone
    /// to notice before it can go.
    #[arg(long)]
    pub cooldown: bool,

    /// Print the changes, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation on a terminal (--unprotect asks).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    /// AMIs of this account (ami-…).
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    /// Print the changes, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation on a terminal (it only asks for what is destructive: this is not).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// USD per GiB-month of snapshot storage.
    #[arg(long, default_value_t = cost::DEFAULT_PRICE_PER_GIB_MONTH)]
    pub price: f64,

    #[command(flatten)]
    pub org: OrgArgs,

    /// Count the blocks EBS bills each snapshot for (its changes since the previous snapshot of
    /// its lineage, or all its blocks for the first) through the EBS direct APIs: one request
    /// per snapshot and per 10,000 blocks, themselves billed. Without it, full volume sizes
    /// bound the bill from above.
    #[arg(long)]
    pub exact: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// table, markdown, json or csv (--output json also gives JSON).
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,

    /// Only this cluster's column (repeatable); a name not in gio-ami.toml is looked for in the
    /// current region.
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,

    /// Write the Markdown table between the history markers of FILE instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub update: Option<PathBuf>,

    #[command(flatten)]
    pub org: OrgArgs,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The AMI to publish (ami-…), in the current --region.
    #[arg(value_name = "AMI_ID", required_unless_present = "rollback", conflicts_with = "rollback")]
    pub ami: Option<String>,

    /// The cluster, as named in gio-ami.toml ([clusters.NAME]).
    #[arg(long, value_name = "NAME")]
    pub cluster: String,

    /// Publish the parameter's previous AMI again.
    #[arg(long)]
    pub rollback: bool,

    /// Print the change, and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The spec naming the clusters.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,

    /// Go on although the Allowed AMIs setting of an account it goes to refuses the AMI.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The cluster to promote to, as named in gio-ami.toml ([clusters.NAME]).
    #[arg(long, value_name = "CLUSTER")]
    pub to: String,

    /// The cluster to take the release from (default: the target's promote_from).
    #[arg(long, value_name = "CLUSTER")]
    pub from: Option<String>,

    /// How long the source must have held the release (default: the target's soak, else none);
    /// given, it overrides the spec and the plan says so. `0s` promotes at once.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub soak: Option<std::time::Duration>,

    /// Copy the AMI into the target's region first when it is not there yet.
    #[arg(long)]
    pub copy: bool,

    /// Print the gates and the change, and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// The spec naming the clusters.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,

    /// Go on although the Allowed AMIs setting of an account it goes to refuses the AMI.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct OutdatedArgs {
    /// Only this cluster (repeatable; default: every cluster of gio-ami.toml). A name the spec
    /// does not know is looked for in --region.
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,

    /// Exit 3 when a cluster runs a release whose base is more than AGE older than the one
    /// recommended now (`0d`: any newer base), e.g. 30d.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub fail_if_behind: Option<std::time::Duration>,

    #[command(flatten)]
    pub org: OrgArgs,
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// AMI ids (ami-…) of this account and region.
    #[arg(value_name = "AMI_ID", required_unless_present = "packer_manifest")]
    pub amis: Vec<String>,

    /// A manifest written by Packer's `manifest` post-processor: adopts every AMI it lists
    /// in this region.
    #[arg(long, value_name = "FILE")]
    pub packer_manifest: Option<PathBuf>,

    /// Release name (default: the AMI's name).
    #[arg(long)]
    pub release: Option<String>,

    /// Who built them (default: GIO_AMI_AUTHOR, the git user, else the AWS caller).
    #[arg(long)]
    pub author: Option<String>,

    /// Support contact shown in the history.
    #[arg(long)]
    pub contact: Option<String>,

    /// What the release is (default: the AMI's own description).
    #[arg(long)]
    pub description: Option<String>,

    /// The AMI they were built on (Packer's source AMI), recorded so `outdated` can tell how
    /// far behind the recommended EKS-optimized base they are.
    #[arg(long, value_name = "AMI_ID")]
    pub base: Option<String>,

    /// Print the tags that would be written, and write none.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The disk image: a raw file or block device, or qcow2/vmdk/vhd/vhdx (needs qemu-img).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// The release name (gio-ami:release tag) and, with --register, the AMI's name
    /// (default: the file name without its extension).
    #[arg(long)]
    pub name: Option<String>,

    /// Register an AMI with the snapshot as its root (/dev/xvda, ENA on). An AMI of that name
    /// already registered is reported, and nothing is uploaded.
    #[arg(long)]
    pub register: bool,

    /// The AMI's architecture.
    #[arg(long, value_parser = choice::<Arch>(), default_value = "x86_64")]
    pub arch: Arch,

    /// How the AMI boots (arm64 needs uefi).
    #[arg(long, value_parser = choice::<BootMode>(), default_value = "uefi")]
    pub boot_mode: BootMode,

    /// An extra disk of the AMI, with --register; the syntax of `disks add --disk`:
    /// DEVICE=SIZE[:TYPE][:iops=N][:throughput=N] or DEVICE=snap-ID[:SIZE].
    #[arg(long = "disk", value_name = "SPEC")]
    pub disks: Vec<String>,

    #[command(flatten)]
    pub workers: Workers,

    /// A tag of your own on the snapshot and the AMI: KEY=VALUE (several allowed).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// Encrypt the snapshot with this KMS key, given by its ARN (StartSnapshot takes no alias).
    /// Every block of the volume is then sent, zeros too: an encrypted snapshot's unwritten
    /// blocks read as random data, not zeros. The same holds with an encrypted parent, or when
    /// the account encrypts new snapshots by default.
    #[arg(long, value_name = "ARN")]
    pub kms_key: Option<String>,

    /// Start from this snapshot (an earlier upload of the same disk) and send only the blocks
    /// that differ from it; EBS then bills only those. What it holds is read from the manifest
    /// its upload wrote, or from --parent-image.
    #[arg(long, value_name = "SNAPSHOT_ID", group = "parents")]
    pub parent: Option<String>,

    /// With --register: start from this AMI's root snapshot, as --parent does, and name the
    /// AMI as the new one's parent (gio-ami:parent-ami), so `lineage` shows the upload chain.
    #[arg(long, value_name = "AMI_ID", requires = "register", group = "parents")]
    pub parent_ami: Option<String>,

    /// With --parent or --parent-ami: the image the parent was uploaded from, when its manifest
    /// is not at hand. Without either, the parent's blocks are read back from EBS (a full read).
    #[arg(long, value_name = "IMAGE", requires = "parents")]
    pub parent_image: Option<PathBuf>,

    /// Where uploads write the block manifests that later uploads start from (default: the
    /// user cache, e.g. ~/.cache/gio-ami/manifests): share one between CI runs.
    #[arg(long, value_name = "DIR")]
    pub manifest_dir: Option<PathBuf>,

    /// Print what would be uploaded and registered, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The snapshot (snap-…).
    #[arg(value_name = "SNAPSHOT_ID")]
    pub snapshot: String,

    /// The file to write; it must not exist yet unless --force is given.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub workers: Workers,
}

#[derive(Debug, Args)]
pub struct Workers {
    /// Blocks in flight at once (1-256).
    #[arg(long, default_value_t = blocks::DEFAULT_WORKERS,
          value_parser = clap::value_parser!(u16).range(1..=blocks::MAX_WORKERS as i64).map(usize::from))]
    pub workers: usize,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// AMI ids (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required_unless_present = "orphans", conflicts_with = "orphans")]
    pub amis: Vec<String>,

    /// List self-owned snapshots that no AMI of this account references (with [accounts]:
    /// of every configured account and region).
    #[arg(long)]
    pub orphans: bool,

    #[command(flatten)]
    pub org: OrgArgs,
}
