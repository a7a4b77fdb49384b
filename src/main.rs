//! The `gio-ami` command: parses arguments, connects, dispatches to the library, prints.

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use gio_ami::disk::Disk;
use gio_ami::ids::{AmiId, SnapshotId};
use gio_ami::image_file::ImageFile;
use gio_ami::output::{Format, Output, Progress, Rendered};
use gio_ami::packer::{self, TemplateFormat};
use gio_ami::provenance::Provenance;
use gio_ami::prune::{self, Family, Policy, Stage};
use gio_ami::upload::{Arch, BootMode};
use gio_ami::history::HistoryFormat;
use gio_ami::{
    adoption, base, blocks, build, clusters, copy, cost, disks, download, gc, history,
    lineage, plan, publish, share, snapshots, spec, upload, wipe, Aws, AwsOptions,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Builds, extends, finds, publishes and wipes custom AMIs for EKS worker nodes.
///
/// AWS access follows the usual chain: --profile / AWS_PROFILE, AWS_ACCESS_KEY_ID and friends,
/// SSO, instance roles. AWS_ENDPOINT_URL points every call at another endpoint (an emulator).
#[derive(Debug, Parser)]
#[command(name = "gio-ami", version, max_term_width = 100)]
struct Cli {
    /// AWS region to work in (default: AWS_REGION, then the profile's region). `history`
    /// takes it several times to merge regions.
    #[arg(long, global = true, value_name = "REGION")]
    region: Vec<String>,

    /// Named profile from ~/.aws/config (default: AWS_PROFILE, then `default`).
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,

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
    timeout: u64,

    /// How results are printed on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,

    /// More detail on stderr: -v for progress details, -vv for every AWS call.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented gio-ami.toml to start from.
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
        #[arg(long, value_name = "VERSION")]
        kubernetes: String,
        /// al2 | al2023 | bottlerocket
        #[arg(long, default_value = "al2023")]
        family: String,
        /// x86_64 | arm64
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// standard | nvidia
        #[arg(long, default_value = "standard")]
        variant: String,
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
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(spec::ENGINES))]
        engine: Option<String>,
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
    Gc {
        /// Print the plan, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },

    /// List the account's own AMIs, newest first, with their snapshots and size.
    Images,

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
    #[command(verbatim_doc_comment)]
    Wipe(WipeArgs),

    /// Retention per release family: keep the newest N, wipe (or disable) the older rest.
    ///
    /// A family is the AMIs whose name starts with a --release-prefix, or that carry a --tag.
    /// In each, the newest --keep AMIs stay, and of the others those older than --older-than
    /// go; an AMI any family keeps is kept. What goes passes the same guards as `wipe`: an AMI
    /// in use is never touched (it is listed, with its users), and a snapshot another AMI maps
    /// is kept. Earlier lifecycle stages instead of deletion: --deprecate (EnableImageDeprecation
    /// from now) or --disable (DisableImage: no launches; `aws ec2 enable-image` undoes it).
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
    #[command(verbatim_doc_comment)]
    History(HistoryArgs),

    /// Publish an AMI to a cluster: its SSM parameter (DataType aws:ec2:image) and history mark.
    ///
    /// The parameter comes from [clusters.NAME] ssm_parameter in gio-ami.toml; Karpenter
    /// (amiSelectorTerms ssmParameter), Terraform (aws_ssm_parameter) and Pulumi
    /// (ssm.getParameter) read it. SSM keeps every earlier value: --rollback publishes the
    /// previous one again. The AMI must be available and in the cluster's region.
    ///
    /// Examples:
    ///   gio-ami publish ami-0abc… --cluster prod --dry-run
    ///   gio-ami publish ami-0abc… --cluster prod
    ///   gio-ami publish --rollback --cluster prod
    #[command(verbatim_doc_comment)]
    Publish(PublishArgs),

    /// Copy an AMI to other regions, all at once, tagged like the source; waits until the
    /// copies are available and prints their ids. Re-running finds the earlier copies.
    ///
    /// Examples:
    ///   gio-ami copy ami-0abc… --to us-east-1 --to ap-southeast-2
    ///   gio-ami copy ami-0abc… --to us-east-1 --kms-key us-east-1=alias/ami-copies
    #[command(verbatim_doc_comment)]
    Copy(CopyArgs),

    /// Share AMIs with other accounts (launch permission and the snapshots'
    /// createVolumePermission), or take the share back with --unshare. Safe to repeat.
    ///
    /// Examples:
    ///   gio-ami share ami-0abc… --account 111122223333 --account 444455556666
    ///   gio-ami share ami-0abc… --account 111122223333 --unshare
    #[command(verbatim_doc_comment)]
    Share(ShareArgs),

    /// What the AMIs cost to keep: snapshot GiB and USD per month by release and in total,
    /// orphan snapshots, and AMIs no cluster of gio-ami.toml runs.
    ///
    /// Sizes are full volume sizes; EBS bills the blocks each snapshot changed, so this is an
    /// upper bound.
    ///
    /// Examples:
    ///   gio-ami cost
    ///   gio-ami cost --price 0.0125 --output json
    #[command(verbatim_doc_comment)]
    Cost(CostArgs),
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// How many of the newest AMIs of each family always stay.
    #[arg(long, default_value_t = 3)]
    keep: usize,

    /// Only AMIs older than this go (e.g. 90d, 12w, 36h); default: any age.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    older_than: Option<std::time::Duration>,

    /// A family: the AMIs whose name starts with this (several allowed).
    #[arg(long, value_name = "PREFIX", required_unless_present = "tags")]
    release_prefix: Vec<String>,

    /// A family: the AMIs carrying this tag, KEY=VALUE (several allowed).
    #[arg(long = "tag", id = "tags", value_name = "KEY=VALUE")]
    tags: Vec<String>,

    /// Disable the AMIs instead of wiping them (their snapshots stay).
    #[arg(long, conflicts_with = "deprecate")]
    disable: bool,

    /// Deprecate the AMIs from now instead of wiping them (still launchable by id).
    #[arg(long)]
    deprecate: bool,

    /// Print the plan, and change nothing.
    #[arg(long)]
    dry_run: bool,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Debug, Args)]
struct WipeArgs {
    /// AMI ids (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required = true)]
    amis: Vec<String>,

    /// Print the plan, and change nothing.
    #[arg(long)]
    dry_run: bool,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    yes: bool,

    /// Wipe AMIs that are in use (or whose use could not be checked). Snapshots other AMIs map
    /// are still kept.
    #[arg(long)]
    force: bool,

    /// Also wipe every AMI derived from these (gio-ami:parent-ami tags, any depth); each shared
    /// snapshot is deleted once, after its last AMI.
    #[arg(long)]
    chain: bool,
}

#[derive(Debug, Subcommand)]
enum DisksCommand {
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
struct DisksAddArgs {
    /// The AMI to extend (ami-…).
    #[arg(value_name = "SOURCE_AMI")]
    source: String,

    /// A disk to add: DEVICE=SIZE[:TYPE][:iops=N][:throughput=N][:encrypted]
    /// [:delete-on-termination=false], or DEVICE=snap-ID[:SIZE] for a disk made from a
    /// snapshot. SIZE in GiB; TYPE gp3 (default), gp2, io1, io2, st1, sc1, standard.
    #[arg(long = "disk", value_name = "SPEC", required = true)]
    disks: Vec<String>,

    /// Name of the new AMI (default: the source's name and the added devices); with --chain,
    /// the prefix of each member's name.
    #[arg(long)]
    name: Option<String>,

    /// One AMI per disk, each registered from the previous one.
    #[arg(long)]
    chain: bool,

    /// Print what would be registered, and register nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
enum PackerCommand {
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
        #[arg(long, value_enum, default_value_t = TemplateFormat::Json)]
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
struct CopyArgs {
    /// The AMI to copy (ami-…), in the current --region.
    #[arg(value_name = "AMI_ID")]
    ami: String,

    /// Destination region (repeatable).
    #[arg(long = "to", value_name = "REGION", required = true)]
    to: Vec<String>,

    /// Encrypt the copy in REGION with this KMS key (REGION=KEY, repeatable).
    #[arg(long = "kms-key", value_name = "REGION=KEY")]
    kms_keys: Vec<String>,
}

#[derive(Debug, Args)]
struct ShareArgs {
    /// AMIs of this account (ami-…).
    #[arg(value_name = "AMI_ID", required = true)]
    amis: Vec<String>,

    /// Account id to share with (12 digits, repeatable).
    #[arg(long = "account", value_name = "ID", required = true)]
    accounts: Vec<String>,

    /// Revoke instead of grant.
    #[arg(long)]
    unshare: bool,

    /// Print the permission changes, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct CostArgs {
    /// USD per GiB-month of snapshot storage.
    #[arg(long, default_value_t = cost::DEFAULT_PRICE_PER_GIB_MONTH)]
    price: f64,

    /// The spec naming the clusters (to tell which AMIs are unused).
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    spec: PathBuf,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// table, markdown, json or csv (--output json also gives JSON).
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    format: HistoryFormat,

    /// Only this cluster's column (repeatable); a name not in gio-ami.toml is looked for in the
    /// current region.
    #[arg(long = "cluster", value_name = "NAME")]
    clusters: Vec<String>,

    /// Write the Markdown table between the history markers of FILE instead of printing it.
    #[arg(long, value_name = "FILE")]
    update: Option<PathBuf>,

    /// The spec naming the clusters; history works without one (no cluster columns).
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    spec: PathBuf,
}

#[derive(Debug, Args)]
struct PublishArgs {
    /// The AMI to publish (ami-…), in the current --region.
    #[arg(value_name = "AMI_ID", required_unless_present = "rollback", conflicts_with = "rollback")]
    ami: Option<String>,

    /// The cluster, as named in gio-ami.toml ([clusters.NAME]).
    #[arg(long, value_name = "NAME")]
    cluster: String,

    /// Publish the parameter's previous AMI again.
    #[arg(long)]
    rollback: bool,

    /// Print the change, and write nothing.
    #[arg(long)]
    dry_run: bool,

    /// The spec naming the clusters.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    spec: PathBuf,
}

#[derive(Debug, Args)]
struct AdoptArgs {
    /// AMI ids (ami-…) of this account and region.
    #[arg(value_name = "AMI_ID", required_unless_present = "packer_manifest")]
    amis: Vec<String>,

    /// A manifest written by Packer's `manifest` post-processor: adopts every AMI it lists
    /// in this region.
    #[arg(long, value_name = "FILE")]
    packer_manifest: Option<PathBuf>,

    /// Release name (default: the AMI's name).
    #[arg(long)]
    release: Option<String>,

    /// Who built them (default: GIO_AMI_AUTHOR, the git user, else the AWS caller).
    #[arg(long)]
    author: Option<String>,

    /// Support contact shown in the history.
    #[arg(long)]
    contact: Option<String>,

    /// What the release is (default: the AMI's own description).
    #[arg(long)]
    description: Option<String>,

    /// Print the tags that would be written, and write none.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct UploadArgs {
    /// The disk image: a raw file or block device, or qcow2/vmdk/vhd/vhdx (needs qemu-img).
    #[arg(value_name = "IMAGE")]
    image: PathBuf,

    /// The release name (gio-ami:release tag) and, with --register, the AMI's name
    /// (default: the file name without its extension).
    #[arg(long)]
    name: Option<String>,

    /// Register an AMI with the snapshot as its root (/dev/xvda, ENA on). An AMI of that name
    /// already registered is reported, and nothing is uploaded.
    #[arg(long)]
    register: bool,

    /// The AMI's architecture.
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    arch: Arch,

    /// How the AMI boots (arm64 needs uefi).
    #[arg(long, value_enum, default_value_t = BootMode::Uefi)]
    boot_mode: BootMode,

    /// An extra disk of the AMI, with --register; the syntax of `disks add --disk`:
    /// DEVICE=SIZE[:TYPE][:iops=N][:throughput=N] or DEVICE=snap-ID[:SIZE].
    #[arg(long = "disk", value_name = "SPEC")]
    disks: Vec<String>,

    #[command(flatten)]
    workers: Workers,

    /// A tag of your own on the snapshot and the AMI: KEY=VALUE (several allowed).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,

    /// Encrypt the snapshot with this KMS key (its ARN) instead of leaving it unencrypted.
    #[arg(long, value_name = "ARN")]
    kms_key: Option<String>,

    /// Print what would be uploaded and registered, and do nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct DownloadArgs {
    /// The snapshot (snap-…).
    #[arg(value_name = "SNAPSHOT_ID")]
    snapshot: String,

    /// The file to write; it must not exist yet unless --force is given.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,

    #[command(flatten)]
    workers: Workers,
}

#[derive(Debug, Args)]
struct Workers {
    /// Blocks in flight at once (1-256).
    #[arg(long, default_value_t = blocks::DEFAULT_WORKERS,
          value_parser = clap::value_parser!(u16).range(1..=blocks::MAX_WORKERS as i64).map(usize::from))]
    workers: usize,
}

#[derive(Debug, Args)]
struct SnapshotsArgs {
    /// AMI ids (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required_unless_present = "orphans", conflicts_with = "orphans")]
    amis: Vec<String>,

    /// List self-owned snapshots that no AMI of this account references.
    #[arg(long)]
    orphans: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): end quietly, with the status a tool killed by
        // SIGPIPE has, as coreutils do (Rust ignores the signal, so the write failed instead).
        Err(err) if is_broken_pipe(&err) => ExitCode::from(128 + 13),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let output = Output::new(cli.output);
    let quiet = cli.quiet;
    if cli.region.len() > 1 && !matches!(cli.command, Command::History(_)) {
        anyhow::bail!(
            "--region was given {} times; only `history` reads several regions. Pass one.",
            cli.region.len()
        );
    }
    let options = AwsOptions {
        region: cli.region.first().cloned(),
        profile: cli.profile,
        attempt_timeout: Some(Duration::from_secs(cli.timeout)),
    };
    match cli.command {
        Command::Init { path, force } => {
            if path.exists() && !force {
                anyhow::bail!("{} exists; pass --force to overwrite it", path.display());
            }
            std::fs::write(&path, spec::TEMPLATE)?;
            eprintln!("wrote {}: edit it, then `gio-ami check` and `gio-ami build`", path.display());
        }
        Command::Check { spec: path } => output.checked(&spec::load(&path)?)?,
        Command::Base { kubernetes, family, arch, variant } => {
            let aws = Aws::connect(&options).await?;
            let query = base::Query { family, kubernetes, arch, variant };
            output.base(&base::resolve(&aws, &query).await?)?;
        }
        Command::Build { spec: path, engine } => {
            let loaded = spec::load(&path)?;
            for warning in &loaded.warnings {
                tracing::warn!("{}: {}", warning.key, warning.message);
            }
            let aws = Aws::connect(&options).await?;
            let progress = Progress::new(quiet);
            let built = match engine.as_deref().unwrap_or(loaded.spec.build.engine.get_ref()) {
                "packer" => packer::build(&aws, &loaded, &progress).await,
                _ => build::build(&aws, &loaded, &progress).await,
            };
            progress.finish();
            output.built(&built?)?;
        }
        Command::Packer(PackerCommand::Render { spec: path, format, out, resolve, endpoint }) => {
            let loaded = spec::load(&path)?;
            let target = if resolve {
                let aws = Aws::connect(&options).await?;
                let base = build::resolve_base(&aws, &loaded.spec).await?;
                packer::Target::offline(&loaded, Some(aws.region().to_string()), endpoint).pinned(&base)
            } else {
                packer::Target::offline(&loaded, options.region.clone(), endpoint)
            };
            let template = packer::render(&loaded, &target, format)?;
            std::fs::create_dir_all(&out)?;
            let file = out.join(format.file_name());
            std::fs::write(&file, template)?;
            output.rendered(&Rendered { path: file.display().to_string(), format })?;
        }
        Command::Adopt(args) => {
            let mut requests: Vec<adoption::Request> = parse_all::<AmiId>(&args.amis)?
                .into_iter()
                .map(|ami| adoption::Request { ami, built_at: None })
                .collect();
            let artifacts = match &args.packer_manifest {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .map_err(|e| anyhow::anyhow!("cannot read {} ({e})", file.display()))?;
                    adoption::manifest(&file.display().to_string(), &text)?
                }
                None => Vec::new(),
            };
            let aws = Aws::connect(&options).await?;
            let (from_manifest, skipped) = adoption::in_region(&artifacts, aws.region())?;
            requests.extend(from_manifest);
            if requests.is_empty() {
                anyhow::bail!("nothing to adopt in {}: {}", aws.region(), skipped.join("; "));
            }
            let author = match &args.author {
                Some(author) => author.clone(),
                None => Provenance::current(&aws).await.author,
            };
            let metadata = adoption::Metadata {
                release: args.release,
                author: args.author,
                contact: args.contact,
                description: args.description,
            };
            let adopted = adoption::adopt(&aws, &requests, &metadata, &author, args.dry_run).await?;
            output.adopted(&adoption::Report { dry_run: args.dry_run, adopted, skipped })?;
        }
        Command::Gc { dry_run } => {
            let aws = Aws::connect(&options).await?;
            let (actions, outcomes) = gc::collect(&aws, None, dry_run).await?;
            output.outcomes(&actions, &outcomes, dry_run)?;
            if !plan::succeeded(&outcomes) {
                anyhow::bail!("some leftovers could not be removed (see above); run `gio-ami gc` again");
            }
        }
        Command::Images => {
            let aws = Aws::connect(&options).await?;
            output.images(&gio_ami::inventory::own_images(&aws).await?)?;
        }
        Command::Snapshots(args) if args.orphans => {
            let aws = Aws::connect(&options).await?;
            output.orphans(&snapshots::orphans(&aws).await?)?;
        }
        Command::Snapshots(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let aws = Aws::connect(&options).await?;
            output.ami_snapshots(&snapshots::behind(&aws, &amis).await?)?;
        }
        Command::Disks(DisksCommand::Add(args)) => {
            let source: AmiId = args.source.parse()?;
            let request = disks::Request {
                disks: parse_all::<Disk>(&args.disks)?,
                name: args.name,
                chain: args.chain,
            };
            let aws = Aws::connect(&options).await?;
            let plan = disks::prepare(&aws, &source, &request).await?;
            if args.dry_run {
                output.disks_plan(&plan)?;
            } else {
                let provenance = Provenance::current(&aws).await;
                output.registered(&disks::apply(&aws, &plan, &provenance).await?)?;
            }
        }
        Command::Upload(args) => {
            let request = upload::Request {
                name: args.name,
                register: args.register,
                arch: args.arch,
                boot_mode: args.boot_mode,
                disks: parse_all::<Disk>(&args.disks)?,
                workers: args.workers.workers,
                tags: args.tags.iter().map(|t| upload::parse_tag(t)).collect::<Result<_, _>>()?,
                kms_key: args.kms_key,
            };
            let progress = Progress::new(cli.quiet);
            let image = ImageFile::open(&args.image, |step| progress.phase(step))?;
            let aws = Aws::connect(&options).await?;
            let sizes = disks::snapshot_sizes(&aws, &request.disks).await?;
            let provenance = Provenance::current(&aws).await;
            let plan = upload::plan(&request, (&image.path, image.format, image.size), &sizes, &provenance)?;
            if args.dry_run {
                output.upload_plan(&plan)?;
            } else {
                let uploaded = upload::apply(&aws, &plan, &image, &progress, gio_ami::wait::interrupted()).await;
                progress.finish();
                output.uploaded(&uploaded?)?;
            }
        }
        Command::Download(args) => {
            let snapshot: SnapshotId = args.snapshot.parse()?;
            let aws = Aws::connect(&options).await?;
            let progress = Progress::new(cli.quiet);
            let downloaded = download::download(&aws, &snapshot, &args.file, args.workers.workers, args.force, &progress).await;
            progress.finish();
            output.downloaded(&downloaded?)?;
        }
        Command::Lineage { ami } => {
            let ami: AmiId = ami.parse()?;
            let aws = Aws::connect(&options).await?;
            output.lineage(&lineage::of(&aws, &ami).await?)?;
        }
        Command::Wipe(args) => {
            let request = wipe::Request {
                amis: parse_all::<AmiId>(&args.amis)?,
                chain: args.chain,
                force: args.force,
            };
            let aws = Aws::connect(&options).await?;
            let plan = wipe::prepare(&aws, &request).await?;
            if plan.blocked() {
                let refused: Vec<String> = plan.refused_amis().map(|(id, why)| format!("{id}: {why}")).collect();
                return refuse(&output, &plan, gio_ami::Error::InUse(refused.join("; ")));
            }
            execute(&aws, &output, &plan, args.dry_run, args.yes).await?;
        }
        Command::Prune(args) => {
            let mut families: Vec<Family> = args.release_prefix.into_iter().map(Family::Prefix).collect();
            families.extend(parse_all::<Family>(&args.tags)?);
            let policy = Policy {
                families,
                keep: args.keep,
                older_than: args.older_than,
                stage: match (args.disable, args.deprecate) {
                    (true, _) => Stage::Disable,
                    (_, true) => Stage::Deprecate,
                    _ => Stage::Delete,
                },
            };
            let aws = Aws::connect(&options).await?;
            let plan = prune::prepare(&aws, &policy, gio_ami::gc::now_epoch()).await?;
            // Refusals of AMIs in use are the policy at work; refusals for want of a look-up
            // mean the prune did not happen, and scripts must hear it.
            if !plan.unchecked.is_empty() {
                return refuse(&output, &plan, gio_ami::Error::Unchecked(plan.unchecked.join("; ")));
            }
            execute(&aws, &output, &plan, args.dry_run, args.yes).await?;
        }
        Command::History(args) => {
            let spec = optional_spec(&args.spec)?;
            let current = Aws::connect(&options).await?;
            let clusters = clusters::select(spec.as_ref(), &args.clusters, current.region());
            let history = history::gather(current, &options, &cli.region, clusters).await?;
            tracing::info!(api_calls = history.api_calls, releases = history.releases.len(), "history read");
            match &args.update {
                Some(file) => {
                    history::update_file(file, &history)?;
                    output.history_updated(&file.display().to_string(), &history)?;
                }
                None => output.history(&history, args.format)?,
            }
        }
        Command::Publish(args) => {
            let spec = optional_spec(&args.spec)?;
            let cluster = clusters::configured(spec.as_ref(), &args.cluster)?;
            // A rollback's AMI is wherever the cluster is; a new AMI is looked for where the
            // user works, so one in the wrong region is named as such.
            let aws = match &args.ami {
                Some(_) => Aws::connect(&options).await?,
                None => Aws::connect(&AwsOptions { region: Some(cluster.region.clone()), ..options }).await?,
            };
            let publication = match &args.ami {
                Some(ami) => publish::prepare(&aws, &cluster, &ami.parse()?).await?,
                None => publish::prepare_rollback(&aws, &cluster).await?,
            };
            if !args.dry_run {
                publish::apply(&aws, &publication).await?;
            }
            output.publication(&publication, args.dry_run)?;
        }
        Command::Copy(args) => {
            let ami: AmiId = args.ami.parse()?;
            let kms_keys = copy::parse_kms_keys(&args.kms_keys)?;
            let aws = Aws::connect(&options).await?;
            let progress = output.progress("copying");
            output.copied(&copy::copy(&aws, &options, &ami, &args.to, &kms_keys, &progress).await?)?;
        }
        Command::Share(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let accounts = args.accounts.iter().map(|a| share::account(a)).collect::<gio_ami::Result<Vec<_>>>()?;
            let aws = Aws::connect(&options).await?;
            let images = gio_ami::inventory::own_images_by_id(&aws, &amis).await?;
            let changes = share::plan(&images, &accounts, !args.unshare);
            if !args.dry_run {
                share::apply(&aws, &changes).await?;
            }
            output.shared(&changes, args.dry_run)?;
        }
        Command::Cost(args) => {
            let spec = optional_spec(&args.spec)?;
            let aws = Aws::connect(&options).await?;
            let clusters = clusters::select(spec.as_ref(), &[], aws.region());
            output.cost(&cost::gather(&aws, &clusters, args.price).await?)?;
        }
    }
    Ok(())
}

/// The spec when the file exists; its absence is fine for commands that only read clusters
/// from it, and an unreadable or invalid spec is still an error.
fn optional_spec(path: &Path) -> gio_ami::Result<Option<spec::Spec>> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(spec::load(path)?.spec))
}

/// Prints a plan that must not run, and fails with why.
fn refuse(output: &Output, plan: &wipe::Plan, why: gio_ami::Error) -> anyhow::Result<()> {
    output.wipe_plan(plan)?;
    output.wipe_report(plan, None)?;
    Err(why.into())
}

/// Prints the plan, asks on a terminal unless --yes, applies it, and fails when a step did.
async fn execute(aws: &Aws, output: &Output, plan: &wipe::Plan, dry_run: bool, yes: bool) -> anyhow::Result<()> {
    output.wipe_plan(plan)?;
    if dry_run || !plan.has_work() {
        return Ok(output.wipe_report(plan, None)?);
    }
    if !yes && std::io::stdin().is_terminal() && !confirm("Go ahead as planned? [y/N] ")? {
        return Err(gio_ami::Error::NotConfirmed.into());
    }
    let outcomes = wipe::apply(aws, plan).await?;
    tracing::info!(requests = aws.calls(), "plan applied");
    output.wipe_report(plan, Some(&outcomes))?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.status {
            gio_ami::plan::Status::Failed(why) => Some(format!("{}: {why}", o.action.id())),
            _ => None,
        })
        .collect();
    match failed.first() {
        Some(first) => Err(gio_ami::Error::Incomplete { failed: failed.len(), total: outcomes.len(), first: first.clone() }.into()),
        None => Ok(()),
    }
}

/// Asks on the terminal (stderr, so stdout stays the plan); anything but y/yes is a no.
fn confirm(question: &str) -> std::io::Result<bool> {
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Parses every argument before any AWS call, so a typo costs nothing.
fn parse_all<T>(inputs: &[String]) -> gio_ami::Result<Vec<T>>
where
    T: std::str::FromStr,
    gio_ami::Error: From<T::Err>,
{
    inputs.iter().map(|s| Ok(s.parse()?)).collect()
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        // The SDK's own warnings (e.g. a missing ~/.aws/config) are noise next to our errors.
        (false, 0) => "gio_ami=warn,error",
        (false, 1) => "gio_ami=info,warn",
        (false, 2) => "gio_ami=debug,aws_smithy_runtime=debug,warn",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("GIO_AMI_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
