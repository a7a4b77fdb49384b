//! The `gio-ami` command: parses arguments, connects, dispatches to the library, prints.

use clap::{Args, Parser, Subcommand};
use gio_ami::disk::Disk;
use gio_ami::ids::AmiId;
use gio_ami::output::{Format, Output, Progress, Rendered};
use gio_ami::packer::{self, TemplateFormat};
use gio_ami::provenance::Provenance;
use gio_ami::{adoption, base, build, disks, gc, lineage, plan, snapshots, spec, Aws, AwsOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// Builds, extends, finds, publishes and wipes custom AMIs for EKS worker nodes.
///
/// AWS access follows the usual chain: --profile / AWS_PROFILE, AWS_ACCESS_KEY_ID and friends,
/// SSO, instance roles. AWS_ENDPOINT_URL points every call at another endpoint (an emulator).
#[derive(Debug, Parser)]
#[command(name = "gio-ami", version, max_term_width = 100)]
struct Cli {
    /// AWS region to work in (default: AWS_REGION, then the profile's region).
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,

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

    /// Show where an AMI comes from and what was derived from it (gio-ami:parent-ami tags).
    Lineage {
        /// The AMI id (ami-…).
        #[arg(value_name = "AMI_ID")]
        ami: String,
    },
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
struct AdoptArgs {
    /// AMI ids (ami-…) of this account and region.
    #[arg(value_name = "AMI_ID", required_unless_present = "packer_manifest")]
    amis: Vec<String>,

    /// A manifest written by Packer's `manifest` post-processor: adopts every AMI it lists
    /// in this region.
    #[arg(long, value_name = "FILE")]
    packer_manifest: Option<PathBuf>,

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
    let quiet = cli.quiet;
    let options = AwsOptions {
        region: cli.region,
        profile: cli.profile,
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
            let metadata = adoption::Metadata { author: args.author, contact: args.contact, description: args.description };
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
        Command::Lineage { ami } => {
            let ami: AmiId = ami.parse()?;
            let aws = Aws::connect(&options).await?;
            output.lineage(&lineage::of(&aws, &ami).await?)?;
        }
    }
    Ok(())
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
