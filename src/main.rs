//! The `gio-ami` command: parses arguments, connects, dispatches to the library, prints.

use clap::{Args, Parser, Subcommand};
use gio_ami::disk::Disk;
use gio_ami::ids::AmiId;
use gio_ami::output::{Format, Output};
use gio_ami::provenance::Provenance;
use gio_ami::history::HistoryFormat;
use gio_ami::{adopt, clusters, copy, cost, disks, history, lineage, publish, share, snapshots, spec, Aws, AwsOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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

    /// Show where an AMI comes from and what was derived from it (gio-ami:parent-ami tags).
    Lineage {
        /// The AMI id (ami-…).
        #[arg(value_name = "AMI_ID")]
        ami: String,
    },

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

    /// Adopt AMIs built elsewhere as releases: writes the gio-ami:* tags onto them and their
    /// snapshots, so history, publish and cost know them.
    ///
    /// Examples:
    ///   gio-ami adopt ami-0f68d8914afc68574 --description "first release" --contact ops@example.org --author ana
    ///   gio-ami adopt ami-0f50e42c76b6fa038 --release gio-node-2 --description "t2.small => t2.medium"
    #[command(verbatim_doc_comment)]
    Adopt(AdoptArgs),

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
    /// AMIs of this account (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required = true)]
    amis: Vec<String>,

    /// Release name (default: the AMI's name).
    #[arg(long)]
    release: Option<String>,

    /// What changed in this release.
    #[arg(long)]
    description: Option<String>,

    /// Who to ask about it (support contact).
    #[arg(long)]
    contact: Option<String>,

    /// Who made it (default: unset).
    #[arg(long)]
    author: Option<String>,
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
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let output = Output::new(cli.output);
    if cli.region.len() > 1 && !matches!(cli.command, Command::History(_)) {
        anyhow::bail!(
            "--region was given {} times; only `history` reads several regions. Pass one.",
            cli.region.len()
        );
    }
    let options = AwsOptions {
        region: cli.region.first().cloned(),
        profile: cli.profile,
    };
    match cli.command {
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
        Command::Lineage { ami } => {
            let ami: AmiId = ami.parse()?;
            let aws = Aws::connect(&options).await?;
            output.lineage(&lineage::of(&aws, &ami).await?)?;
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
        Command::Adopt(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let adoption = adopt::Adoption {
                release: args.release,
                description: args.description,
                contact: args.contact,
                author: args.author,
            };
            let aws = Aws::connect(&options).await?;
            output.adopted(&adopt::adopt(&aws, &amis, &adoption).await?)?;
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
