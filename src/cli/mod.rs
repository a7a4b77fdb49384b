//! The binary's side of gio-ami: it assembles the library's layers for each verb, asks for
//! confirmation, renders results (`render`) and draws progress (`progress`). Nothing below this
//! module touches the terminal.

pub mod args;
mod progress;
mod render;

use args::{Cli, Colour, Command, DisksCommand, PackerCommand};
use clap::CommandFactory;
use gio_ami::aws::provenance::Provenance;
use gio_ami::aws::{base, inventory, org, orphans};
use gio_ami::change::{self, retire, Applied, Report};
use gio_ami::change::{access, protection};
use gio_ami::commands::prune::{self, Family, Policy, Stage};
use gio_ami::commands::{
    adopt, archive, copy, cost, history, lineage, outdated, promote, publish, recycle_bin, restore, share,
    snapshots, unarchive, upload,
};
use gio_ami::core::ids::{AmiId, SnapshotId};
use gio_ami::core::progress::Progress;
use gio_ami::core::signal::{Interruption, Stop};
use gio_ami::engines::{self, leftovers, packer, register};
use gio_ami::spec::{self, clusters, disk::Disk};
use gio_ami::transfer::{download, image_file::ImageFile, manifest};
use gio_ami::{Aws, AwsOptions};
use progress::Terminal;
use render::{Made, Output, Own, Rendered};
use serde::Serialize;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// The exit status of a run: 0, 1 with the error on stderr, or SIGPIPE's when the reader left.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): end quietly, with the status a tool killed by
        // SIGPIPE has, as coreutils do (Rust ignores the signal, so the write failed instead).
        Err(err) if is_broken_pipe(&err) => ExitCode::from(128 + 13),
        // `outdated --fail-if-behind`: the report was printed; a scheduled job tells "behind"
        // (3) from "could not tell" (1).
        Err(err) if matches!(err.downcast_ref::<gio_ami::Error>(), Some(gio_ami::Error::Behind { .. })) => {
            eprintln!("error: {}", message(&err));
            ExitCode::from(3)
        }
        Err(err) => {
            eprintln!("error: {}", message(&err));
            ExitCode::FAILURE
        }
    }
}

/// An error as printed: its chain of causes, then the flags that get past the last one.
fn message(err: &anyhow::Error) -> String {
    gio_ami::commands::advice::with_advice(format!("{err:#}"), err.root_cause())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The completion script of `shell`. clap_complete's bash script completes no flag of any
/// subcommand for a binary named with a hyphen: its loop and its case arms spell the states of
/// `gio-ami wipe` differently (clap-rs/clap#6421, open in clap_complete 4.6). Generated for
/// `gio_ami`, the two agree; its `complete` lines then register it for the real name (the loop
/// matches whatever command word bash passes). zsh and fish have no such bug. Into a buffer,
/// since clap_complete panics on a failed write (`| head`).
fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    if shell == clap_complete::Shell::Bash {
        clap_complete::generate(shell, &mut Cli::command(), "gio_ami", &mut script);
        let text = String::from_utf8_lossy(&script)
            .lines()
            .map(|line| match line.trim_start().starts_with("complete -F") {
                true => line.replace(" gio_ami", " gio-ami"),
                false => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        return format!("{text}\n").into_bytes();
    }
    clap_complete::generate(shell, &mut Cli::command(), "gio-ami", &mut script);
    script
}

/// Installs the run's only Ctrl-C and SIGTERM handlers and returns the interruption they set;
/// call it first thing, so no signal of the run finds the process without them. The first
/// signal interrupts the run (each wait ends, each operation cleans up); a second one ends the
/// process at once, for a user who will not wait for a clean-up.
pub fn listen_for_signals() -> Interruption {
    let interruption = Interruption::default();
    let (Ok(mut ctrl_c), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        // Without handlers each signal keeps its default action: it ends the process, as it
        // would any program, and `gc` finds what a build left.
        eprintln!("warning: cannot install the Ctrl-C handler: an interrupted build leaves its builder to `gio-ami gc`");
        return interruption;
    };
    let run = interruption.clone();
    tokio::spawn(async move {
        loop {
            let stop = tokio::select! {
                Some(()) = ctrl_c.recv() => Stop::CtrlC,
                Some(()) = term.recv() => Stop::Term,
                else => return,
            };
            if let Some(first) = run.stop() {
                eprintln!(
                    "error: {stop} after {first}: stopping now, before the clean-up finished; \
                     `gio-ami gc` removes what a build left"
                );
                std::process::exit(
                    128 + if stop == Stop::CtrlC {
                        rustix::process::Signal::INT
                    } else {
                        rustix::process::Signal::TERM
                    }
                    .as_raw(),
                );
            }
            run.interrupt(stop);
        }
    });
    interruption
}

/// Runs the command until it ends, or until an interruption that came while no operation of it
/// that cleans up was running (nothing of it is then left to clean up: ending there is what the
/// signal's default action did).
pub async fn run(cli: Cli, interruption: Interruption) -> anyhow::Result<()> {
    tokio::select! {
        done = command(cli, interruption.clone()) => done,
        signal = interruption.unhandled() => Err(gio_ami::Error::Interrupted { signal }.into()),
    }
}

async fn command(cli: Cli, interruption: Interruption) -> anyhow::Result<()> {
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
        interruption,
    };
    match cli.command {
        Command::Init { path, force } => {
            if path.exists() && !force {
                anyhow::bail!("{} exists; pass --force to overwrite it", path.display());
            }
            let schema = path.with_file_name(spec::SCHEMA_FILE);
            std::fs::write(&path, spec::TEMPLATE)?;
            std::fs::write(&schema, schema_text()?)?;
            eprintln!(
                "wrote {} and {}: edit the spec, then `gio-ami check` and `gio-ami build`",
                path.display(),
                schema.display()
            );
        }
        Command::Completions { shell } => std::io::stdout().write_all(&completions(shell))?,
        Command::Man { out } => {
            std::fs::create_dir_all(&out)?;
            let written = man_pages(&Cli::command(), "", &out)?;
            eprintln!("wrote {written} pages into {}", out.display());
        }
        Command::Schema => println!("{}", schema_text()?),
        Command::Check { spec: path } => output.checked(&spec::load(&path)?)?,
        Command::Base { kubernetes, family, arch, variant } => {
            let aws = Aws::connect(&options).await?;
            let query = base::Query { family, kubernetes, arch, variant };
            output.base(&base::resolve(&aws, &query).await?)?;
        }
        Command::Build { spec: path, engine, dry_run } => {
            let loaded = spec::load(&path)?;
            for warning in &loaded.warnings {
                tracing::warn!("{}: {}", warning.key, warning.message);
            }
            let aws = Aws::connect(&options).await?;
            let engine = engine.unwrap_or(loaded.spec.engine());
            let progress = Terminal::new(quiet);
            let plan = engines::prepare(&aws, &loaded, engine, &progress).await?;
            let mode = Mode {
                command: "build",
                dry_run,
                yes: true,
                destructive: false,
                what: "built",
                facts_on_top: false,
            };
            let built = execute(&aws, &output, &plan, &mode, Own::default(), || {
                engines::build(&aws, &loaded, &plan, &progress)
            })
            .await;
            progress.finish();
            built?;
        }
        Command::Packer(PackerCommand::Render { spec: path, format, out, resolve, endpoint }) => {
            let loaded = spec::load(&path)?;
            let target = if resolve {
                let aws = Aws::connect(&options).await?;
                let base = engines::resolve_base(&aws, &loaded.spec).await?;
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
            let mut requests: Vec<adopt::Request> = parse_all::<AmiId>(&args.amis)?
                .into_iter()
                .map(|ami| adopt::Request { ami, built_at: None })
                .collect();
            let artifacts = match &args.packer_manifest {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .map_err(|e| anyhow::anyhow!("cannot read {} ({e})", file.display()))?;
                    adopt::manifest(&file.display().to_string(), &text)?
                }
                None => Vec::new(),
            };
            let aws = Aws::connect(&options).await?;
            let (from_manifest, skipped) = adopt::in_region(&artifacts, aws.region())?;
            requests.extend(from_manifest);
            if requests.is_empty() {
                anyhow::bail!("nothing to adopt in {}: {}", aws.region(), skipped.join("; "));
            }
            let author = match &args.author {
                Some(author) => author.clone(),
                None => Provenance::current(&aws).await.author,
            };
            let metadata = adopt::Metadata {
                release: args.release,
                author: args.author,
                contact: args.contact,
                description: args.description,
                base: match &args.base {
                    Some(id) => Some(base::explicit(&aws, &id.parse::<AmiId>()?.to_string()).await?),
                    None => None,
                },
            };
            let plan = adopt::prepare(&aws, &requests, &metadata, &author, skipped).await?;
            let mode = Mode {
                command: "adopt",
                dry_run: args.dry_run,
                yes: true,
                destructive: false,
                what: "tagged",
                facts_on_top: true,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(change::apply(&aws, &plan.actions).await.into())
            })
            .await?;
        }
        Command::Gc(args) => {
            let spec = optional_spec(&args.org.spec)?;
            // Roles in [accounts] are for reading: removing is left to each account's own
            // credentials, and said so, since the dry run shows every account's leftovers.
            let roles: Vec<String> = accounts(spec.as_ref(), &[], &[], "")?
                .into_iter()
                .filter(|a| a.role.is_some())
                .map(|a| a.name)
                .collect();
            let only_here = (!roles.is_empty()).then(|| {
                format!(
                    "gc removes leftovers in the caller's account only: those of {} are shown by `gc --dry-run` and removed by gc run \
                     with that account's own credentials (`--profile`)",
                    roles.join(", ")
                )
            });
            if args.dry_run && spec.as_ref().is_some_and(|s| !s.accounts.is_empty()) {
                let org = reach(&options, spec.as_ref(), &args.org, &cli.region).await?;
                let plans =
                    org.rows(|place| async { Ok(vec![leftovers::prepare(&place.aws).await?]) }).await?;
                warn(quiet, &plans.warnings);
                warn(quiet, only_here.as_slice());
                output.plans(&plans.rows, NOTHING_CHANGED)?;
                return Ok(());
            }
            let aws = Aws::connect(&options).await?;
            let mut plan = leftovers::prepare(&aws).await?;
            plan.warnings.extend(only_here);
            let mode = Mode {
                command: "gc",
                dry_run: args.dry_run,
                yes: args.yes,
                destructive: true,
                what: "removed",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(change::apply(&aws, &plan.actions).await.into())
            })
            .await?;
        }
        Command::Images(args) => {
            let spec = optional_spec(&args.org.spec)?;
            let org = reach(&options, spec.as_ref(), &args.org, &cli.region).await?;
            let images = org.rows(|place| inventory::own_images(&place.aws)).await?;
            warn(quiet, &images.warnings);
            output.images(&images.rows, &org.scope())?;
        }
        Command::Snapshots(args) if args.orphans => {
            let spec = optional_spec(&args.org.spec)?;
            let org = reach(&options, spec.as_ref(), &args.org, &cli.region).await?;
            let orphans = org.rows(|place| orphans::orphans(&place.aws)).await?;
            warn(quiet, &orphans.warnings);
            output.orphans(&orphans.rows, &org.scope())?;
        }
        Command::Snapshots(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let aws = Aws::connect(&options).await?;
            output.ami_snapshots(&snapshots::behind(&aws, &amis).await?)?;
        }
        Command::Disks(DisksCommand::Add(args)) => {
            let source: AmiId = args.source.parse()?;
            let request = register::Request {
                disks: parse_all::<Disk>(&args.disks)?,
                name: args.name,
                chain: args.chain,
            };
            let aws = Aws::connect(&options).await?;
            let plan = register::prepare(&aws, &source, &request, args.dry_run).await?;
            let provenance = Provenance::current(&aws).await;
            let own = Own { before: render::disks_steps(&plan.facts), ..Own::default() };
            let mode = Mode {
                command: "disks add",
                dry_run: args.dry_run,
                yes: true,
                destructive: false,
                what: "registered",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, own, || register::apply(&aws, &plan, &provenance)).await?;
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
                parent: match (args.parent, args.parent_ami) {
                    (Some(snapshot), _) => Some(upload::Parent::Snapshot(snapshot.parse()?)),
                    (None, Some(ami)) => Some(upload::Parent::Ami(ami.parse()?)),
                    (None, None) => None,
                },
                manifest_dir: args.manifest_dir.or_else(manifest::default_dir),
            };
            let progress = Terminal::new(cli.quiet);
            let image = ImageFile::open(&args.image, |step| progress.phase(step))?;
            let parent_image = args
                .parent_image
                .map(|path| ImageFile::open(&path, |step| progress.phase(step)))
                .transpose()?;
            let aws = Aws::connect(&options).await?;
            let sizes = register::snapshot_sizes(&aws, &request.disks).await?;
            let provenance = Provenance::current(&aws).await;
            let file = (image.path.as_path(), image.format, image.size);
            let plan =
                upload::prepare(&aws, &request, file, &sizes, &provenance, parent_image.as_ref()).await?;
            let own = Own { before: render::upload_intro(&plan.facts), ..Own::default() };
            let mode = Mode {
                command: "upload",
                dry_run: args.dry_run,
                yes: true,
                destructive: false,
                what: "uploaded",
                facts_on_top: false,
            };
            let uploaded =
                execute(&aws, &output, &plan, &mode, own, || upload::apply(&aws, &plan, &image, &progress))
                    .await;
            progress.finish();
            uploaded?;
        }
        Command::Download(args) => {
            let snapshot: SnapshotId = args.snapshot.parse()?;
            let aws = Aws::connect(&options).await?;
            let progress = Terminal::new(cli.quiet);
            let downloaded =
                download::download(&aws, &snapshot, &args.file, args.workers.workers, args.force, &progress)
                    .await;
            progress.finish();
            output.downloaded(&downloaded?)?;
        }
        Command::Lineage { ami } => {
            let ami: AmiId = ami.parse()?;
            let aws = Aws::connect(&options).await?;
            output.lineage(&lineage::of(&aws, &ami).await?)?;
        }
        Command::Wipe(args) => {
            let request = retire::Request {
                amis: parse_all::<AmiId>(&args.amis)?,
                chain: args.chain,
                force: args.force,
            };
            let aws = Aws::connect(&options).await?;
            let consumers = consumers(&args.spec, &aws).await?;
            let progress = Terminal::new(quiet);
            let plan = retire::prepare(&aws, &consumers, &request, &progress).await;
            progress.finish();
            let plan = plan?;
            if let Some(why) = retire::refusal(&plan) {
                return refuse(&output, &plan, why, Own::default());
            }
            let mode = Mode {
                command: "wipe",
                dry_run: args.dry_run,
                yes: args.yes,
                destructive: true,
                what: "changed",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(retire::apply(&aws, &plan).await?.into())
            })
            .await?;
        }
        Command::Restore(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let aws = Aws::connect(&options).await?;
            let plan = restore::prepare(&aws, &amis).await?;
            let mode = Mode {
                command: "restore",
                dry_run: args.dry_run,
                yes: true,
                destructive: false,
                what: "restored",
                facts_on_top: false,
            };
            let progress = Terminal::new(cli.quiet);
            let found_gone = std::cell::RefCell::new(Vec::new());
            let restored = execute(&aws, &output, &plan, &mode, Own::default(), || async {
                let restored = restore::apply(&aws, &plan, &progress).await?;
                found_gone.borrow_mut().extend(restored.gone);
                Ok(restored.outcomes.into())
            })
            .await;
            progress.finish();
            restored?;
            let gone: Vec<String> = plan.facts.gone.iter().cloned().chain(found_gone.into_inner()).collect();
            if !gone.is_empty() {
                return Err(gio_ami::Error::GoneForGood(gone.join(", ")).into());
            }
        }
        Command::Archive(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let aws = Aws::connect(&options).await?;
            let plan = archive::prepare(&aws, &amis).await?;
            if let Some(why) = retire::refusal(&plan) {
                return refuse(&output, &plan, why, Own::default());
            }
            let mode = Mode {
                command: "archive",
                dry_run: args.dry_run,
                yes: args.yes,
                destructive: true,
                what: "archived",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(archive::apply(&aws, &plan).await?.into())
            })
            .await?;
        }
        Command::Unarchive(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let temporary = args.temporary.map(unarchive::days).transpose()?;
            let aws = Aws::connect(&options).await?;
            let plan = unarchive::prepare(&aws, &amis, temporary).await?;
            let mode = Mode {
                command: "unarchive",
                dry_run: args.dry_run,
                yes: true,
                destructive: false,
                what: "restored",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(unarchive::apply(&aws, &plan).await?.into())
            })
            .await?;
        }
        Command::RecycleBin(args) => {
            let days = recycle_bin::days(args.retain)?;
            let aws = Aws::connect(&options).await?;
            let plan = recycle_bin::prepare(&aws, days).await?;
            let mode = Mode {
                command: "recycle-bin",
                dry_run: args.dry_run,
                yes: true,
                destructive: false,
                what: "changed",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(change::apply(&aws, &plan.actions).await.into())
            })
            .await?;
        }
        Command::Prune(args) => {
            let mut families: Vec<Family> = args.release_prefix.into_iter().map(Family::Prefix).collect();
            families.extend(parse_all::<Family>(&args.tags)?);
            let policy = Policy {
                families,
                keep: args.keep,
                older_than: args.older_than,
                unused_for: args.unused_for,
                stage: match (args.disable, args.deprecate) {
                    (true, _) => Stage::Disable,
                    (_, true) => Stage::Deprecate,
                    _ => Stage::Delete,
                },
            };
            let aws = Aws::connect(&options).await?;
            let consumers = consumers(&args.spec, &aws).await?;
            let progress = Terminal::new(quiet);
            let plan =
                prune::prepare(&aws, &consumers, &policy, gio_ami::core::clock::now_epoch(), &progress).await;
            progress.finish();
            let mut plan = plan?;
            // A deprecated AMI the Allowed AMIs setting of a configured account tolerates only
            // so long after its deprecation stops launching there then: said before it happens.
            let deprecated: Vec<String> = plan
                .actions
                .iter()
                .filter(|a| matches!(a, change::Action::DeprecateImage { .. }))
                .map(|a| a.id().to_string())
                .collect();
            if consumers.configured() && !deprecated.is_empty() {
                let images = inventory::any_images_by_id(&aws, &deprecated).await?;
                let checked = gio_ami::aws::allowed::check(&consumers, &images).await;
                plan.warnings.extend(checked.refusals.into_iter().chain(checked.warnings));
            }
            // Refusals of AMIs in use are the policy at work; refusals for want of a look-up
            // mean the prune did not happen, and scripts must hear it.
            if !plan.facts.unchecked.is_empty() {
                return refuse(
                    &output,
                    &plan,
                    gio_ami::Error::Unchecked(plan.facts.unchecked.join("; ")),
                    Own::default(),
                );
            }
            let mode = Mode {
                command: "prune",
                dry_run: args.dry_run,
                yes: args.yes,
                destructive: true,
                what: "changed",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(retire::apply(&aws, &plan).await?.into())
            })
            .await?;
        }
        Command::History(args) => {
            let spec = optional_spec(&args.org.spec)?;
            let caller = Aws::connect(&options).await?;
            let accounts = accounts(spec.as_ref(), &args.org.accounts, &cli.region, caller.region())?;
            let clusters = clusters::select(spec.as_ref(), &args.clusters, caller.region());
            let listed = history::regions(&cli.region, caller.region(), &clusters);
            let regions: Vec<String> =
                listed.iter().cloned().chain(clusters.iter().map(|c| c.region.clone())).collect();
            let org = enter(caller, &accounts, &regions).await?;
            let history = history::gather(&org, &listed, clusters).await?;
            tracing::info!(api_calls = history.api_calls, releases = history.releases.len(), "history read");
            warn(quiet, &history.warnings);
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
            let caller = match &args.ami {
                Some(_) => Aws::connect(&options).await?,
                None => Aws::connect(&AwsOptions { region: Some(cluster.region.clone()), ..options }).await?,
            };
            let (aws, target) = cluster_context(&caller, spec.as_ref(), &cluster, caller.region()).await?;
            let consumer = target.is_some().then_some(&aws);
            // Judged from the owner's view first: an AMI the setting refuses is not even
            // visible from the cluster's account.
            let mut warnings = Vec::new();
            if let (Some(account), Some(ami)) = (target, &args.ami) {
                let home = caller.elsewhere(&cluster.region, None);
                let owned = inventory::any_images_by_id(&home, std::slice::from_ref(ami)).await?;
                if let Some(why) = allowed(&home, vec![account], &owned, &mut warnings, args.force).await {
                    return Err(why.into());
                }
            }
            let mut plan = match &args.ami {
                Some(ami) => publish::prepare(&caller, consumer, &cluster, &ami.parse()?).await?,
                None => publish::prepare_rollback(&caller, consumer, &cluster).await?,
            };
            plan.warnings.extend(warnings);
            // A rollback is one more version of the parameter: the value it replaces stays in
            // the history, so nothing is lost and no question is asked.
            let mode = Mode {
                command: "publish",
                dry_run: args.dry_run,
                yes: true,
                destructive: false,
                what: "written",
                facts_on_top: true,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(change::apply_across(&caller, &aws, &plan.actions).await.into())
            })
            .await?;
        }
        Command::Promote(args) => {
            let spec = optional_spec(&args.spec)?;
            let to = clusters::configured(spec.as_ref(), &args.to)?;
            let from = match args.from.as_deref().or(to.promote_from.as_deref()) {
                Some(from) => clusters::configured(spec.as_ref(), from)?,
                None => {
                    return Err(gio_ami::spec::Error::NoPromotionSource { cluster: to.name.clone() }.into())
                }
            };
            let caller = Aws::connect(&options).await?;
            let (source, _) = cluster_context(&caller, spec.as_ref(), &from, &from.region).await?;
            let (target, target_account) = cluster_context(&caller, spec.as_ref(), &to, &to.region).await?;
            let soak = match args.soak {
                Some(soak) => promote::Soak::Given { soak, spec: to.soak },
                None => promote::Soak::Spec(to.soak),
            };
            // Where the AMI is owned (the caller's account), in the target's region: a copy is
            // made and looked for there, and its marks, grants and protection go there.
            let home = caller.elsewhere(&to.region, None);
            let request =
                promote::Request { from, to, soak, copy: args.copy, target_account: target_account.clone() };
            let mut plan = promote::prepare(&source, &target, &home, request.clone()).await?;
            if let (Some(region), false) = (plan.facts.copy_to.clone(), args.dry_run) {
                // The copy's id is what the target's parameter gets: copy first, then plan again.
                let ami: AmiId = plan.facts.ami.clone().unwrap_or_default().parse()?;
                let owned = caller.elsewhere(&request.from.region, None);
                let copying =
                    copy::prepare(&owned, &options, &ami, std::slice::from_ref(&region), &Default::default())
                        .await?;
                let progress = Terminal::new(quiet);
                progress.phase(&format!("copying {ami} to {region}"));
                let copied = copy::copy(&options, &copying, &progress).await;
                progress.finish();
                if let Some(failed) = Report::new(&copying, Some(&copied.outcomes)).failure("promote") {
                    return Err(failed.into());
                }
                plan = promote::prepare(&source, &target, &home, request).await?;
            }
            let own = Own { before: render::gates(&plan.facts), ..Own::default() };
            let refusals = plan.facts.refusals();
            if !refusals.is_empty() {
                return refuse(
                    &output,
                    &plan,
                    gio_ami::Error::PromotionRefused { to: plan.facts.to.clone(), reasons: refusals },
                    own.with_top(&plan.facts)?,
                );
            }
            if let (Some(account), Some(ami)) = (target_account, plan.facts.target_ami.clone()) {
                let owned = inventory::any_images_by_id(&home, &[ami]).await?;
                if let Some(why) = allowed(&home, vec![account], &owned, &mut plan.warnings, args.force).await
                {
                    return refuse(&output, &plan, why, own.with_top(&plan.facts)?);
                }
            }
            let mode = Mode {
                command: "promote",
                dry_run: args.dry_run,
                yes: args.yes,
                destructive: false,
                what: "written",
                facts_on_top: true,
            };
            execute(&target, &output, &plan, &mode, own, || async {
                Ok(change::apply_across(&home, &target, &plan.actions).await.into())
            })
            .await?;
        }
        Command::Outdated(args) => {
            let spec = optional_spec(&args.org.spec)?;
            let caller = Aws::connect(&options).await?;
            let accounts = accounts(spec.as_ref(), &args.org.accounts, &cli.region, caller.region())?;
            let mut clusters = clusters::select(spec.as_ref(), &args.clusters, caller.region());
            if !args.org.accounts.is_empty() {
                clusters.retain(|c| c.account.as_ref().is_some_and(|a| args.org.accounts.contains(a)));
            }
            if clusters.is_empty() {
                anyhow::bail!(
                    "no clusters to look at: add [clusters.NAME] tables to {}, or name one with --cluster",
                    args.org.spec.display()
                );
            }
            let regions: Vec<String> = clusters.iter().map(|c| c.region.clone()).collect();
            let org = enter(caller, &accounts, &regions).await?;
            let report = outdated::gather(&org, &clusters).await?;
            tracing::info!(api_calls = report.api_calls, clusters = report.clusters.len(), "outdated read");
            warn(quiet, &report.warnings);
            output.outdated(&report)?;
            if let Some(age) = args.fail_if_behind {
                let behind = report.behind(age);
                if !behind.is_empty() {
                    // As the user wrote it, near enough: whole days as days.
                    let age = match age.as_secs() % 86_400 {
                        0 => format!("{}d", age.as_secs() / 86_400),
                        _ => humantime::format_duration(age).to_string(),
                    };
                    return Err(gio_ami::Error::Behind { clusters: behind, age }.into());
                }
            }
        }
        Command::Copy(args) => {
            let ami: AmiId = args.ami.parse()?;
            let kms_keys = copy::parse_kms_keys(&args.kms_keys)?;
            let aws = Aws::connect(&options).await?;
            let plan = copy::prepare(&aws, &options, &ami, &args.to, &kms_keys).await?;
            let progress = Terminal::new(quiet);
            let mode = Mode {
                command: "copy",
                dry_run: args.dry_run,
                yes: true,
                destructive: false,
                what: "copied",
                facts_on_top: false,
            };
            let copied = execute(&aws, &output, &plan, &mode, Own::default(), || async {
                progress.phase(&format!("copying {ami} to {}", args.to.join(", ")));
                Ok(copy::copy(&options, &plan, &progress).await)
            })
            .await;
            progress.finish();
            copied?;
        }
        Command::Share(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let spec = optional_spec(&args.spec)?;
            let configured = accounts(spec.as_ref(), &[], &[], "")?;
            let named = |input: &String| match configured.iter().find(|a| &a.name == input) {
                Some(account) => account
                    .id()
                    .map(str::to_string)
                    .ok_or_else(|| gio_ami::spec::Error::OwnAccount(input.clone()).into()),
                None => share::account(input),
            };
            let with = share::Grantees {
                accounts: args.accounts.iter().map(named).collect::<gio_ami::Result<_>>()?,
                organizations: args
                    .organizations
                    .iter()
                    .map(|o| share::organization(o))
                    .collect::<gio_ami::Result<_>>()?,
                units: args.units.iter().map(|u| share::unit(u)).collect::<gio_ami::Result<_>>()?,
                public: false,
            };
            let aws = Aws::connect(&options).await?;
            let images = inventory::own_images_by_id(&aws, &amis).await?;
            let mut plan = share::plan(&images, &with, !args.unshare);
            if !args.unshare {
                let anyone = !with.organizations.is_empty() || !with.units.is_empty();
                let targets: Vec<org::Account> = configured
                    .into_iter()
                    .filter(|a| a.id().is_some_and(|id| anyone || with.accounts.iter().any(|w| w == id)))
                    .collect();
                if let Some(why) = allowed(&aws, targets, &images, &mut plan.warnings, args.force).await {
                    return refuse(&output, &plan, why, Own::default());
                }
            }
            let mode = Mode {
                command: "share",
                dry_run: args.dry_run,
                yes: args.yes,
                destructive: args.unshare,
                what: "changed",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(change::apply(&aws, &plan.actions).await.into())
            })
            .await?;
        }
        Command::Protect(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let aws = Aws::connect(&options).await?;
            let images = inventory::own_images_by_id(&aws, &amis).await?;
            let want = if args.unprotect {
                protection::Want::Unprotect
            } else {
                protection::Want::Protect { cooldown: args.cooldown }
            };
            let plan = protection::plan(&images, want);
            let mode = Mode {
                command: "protect",
                dry_run: args.dry_run,
                yes: args.yes,
                destructive: args.unprotect,
                what: "changed",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(change::apply(&aws, &plan.actions).await.into())
            })
            .await?;
        }
        Command::Enable(args) => {
            let amis = parse_all::<AmiId>(&args.amis)?;
            let aws = Aws::connect(&options).await?;
            let images = inventory::own_images_by_id(&aws, &amis).await?;
            let plan = access::plan(&images);
            let mode = Mode {
                command: "enable",
                dry_run: args.dry_run,
                yes: args.yes,
                destructive: false,
                what: "changed",
                facts_on_top: false,
            };
            execute(&aws, &output, &plan, &mode, Own::default(), || async {
                Ok(change::apply(&aws, &plan.actions).await.into())
            })
            .await?;
        }
        Command::Cost(args) => {
            let spec = optional_spec(&args.org.spec)?;
            let org = reach(&options, spec.as_ref(), &args.org, &cli.region).await?;
            let clusters = clusters::select(spec.as_ref(), &[], org.places[0].aws.region());
            if org.configured() {
                let costs = cost::gather_all(&org, &clusters, args.price, args.exact).await?;
                warn(quiet, &costs.warnings);
                output.costs(&costs)?;
            } else {
                let cost = cost::gather(&org, &clusters, args.price, args.exact).await?;
                warn(quiet, &cost.warnings);
                output.cost(&cost)?;
            }
        }
    }
    Ok(())
}

/// gio-ami.toml's JSON Schema, as `schema` prints it and `init` writes it.
fn schema_text() -> serde_json::Result<String> {
    serde_json::to_string_pretty(&spec::schema())
}

/// Writes `command`'s page and, below it, one per subcommand (`gio-ami-disks-add.1`): the
/// number written.
fn man_pages(command: &clap::Command, parent: &str, dir: &Path) -> std::io::Result<usize> {
    let (name, invoked) = match parent {
        "" => (command.get_name().to_string(), command.get_name().to_string()),
        _ => (
            format!("{parent}-{}", command.get_name()),
            format!("{} {}", parent.replace('-', " "), command.get_name()),
        ),
    };
    // A subcommand's page names it as typed (`gio-ami disks add`), not by its bare name.
    let named = command.clone().display_name(name.clone()).bin_name(invoked);
    let mut page = Vec::new();
    clap_mangen::Man::new(named).title(name.to_uppercase()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    let mut written = 1;
    for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
        written += man_pages(sub, &name, dir)?;
    }
    Ok(written)
}

/// The spec when the file exists; its absence is fine for commands that only read clusters
/// from it, and an unreadable or invalid spec is still an error.
fn optional_spec(path: &Path) -> gio_ami::Result<Option<spec::Spec>> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(spec::load(path)?.spec))
}

/// The configured accounts a report reads (all, or those --account names), each in its
/// regions (or the ones --region names; `home`, the caller's, when it names none) and those of
/// its clusters.
fn accounts(
    spec: Option<&spec::Spec>,
    names: &[String],
    regions: &[String],
    home: &str,
) -> gio_ami::Result<Vec<org::Account>> {
    let configured = spec.map(|s| &s.accounts);
    let known = || configured.map(|a| a.keys().cloned().collect()).unwrap_or_default();
    for name in names {
        if !configured.is_some_and(|a| a.contains_key(name)) {
            return Err(gio_ami::spec::Error::UnknownAccount { account: name.clone(), known: known() }.into());
        }
    }
    let Some(spec) = spec else { return Ok(Vec::new()) };
    let clusters = clusters::select(Some(spec), &[], "");
    Ok(spec
        .accounts
        .iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .map(|(name, account)| {
            let mut own: Vec<String> = match (regions.is_empty(), account.regions.is_empty()) {
                (false, _) => regions.to_vec(),
                (true, false) => account.regions.iter().map(|r| r.get_ref().clone()).collect(),
                (true, true) => vec![home.to_string()],
            };
            for cluster in clusters.iter().filter(|c| c.account.as_ref() == Some(name)) {
                if !own.contains(&cluster.region) {
                    own.push(cluster.region.clone());
                }
            }
            org::Account {
                name: name.clone(),
                role: account.role_arn.as_ref().map(|arn| org::Role {
                    arn: arn.get_ref().clone(),
                    external_id: account.external_id.as_ref().map(|e| e.get_ref().clone()),
                    session_name: account.session_name.as_ref().map(|s| s.get_ref().clone()),
                }),
                regions: own,
            }
        })
        .collect())
}

/// Where a report reads: every account of `[accounts]` (or those --account names), else the
/// caller's account in its region, as without any spec.
async fn reach(
    options: &AwsOptions,
    spec: Option<&spec::Spec>,
    args: &args::OrgArgs,
    regions: &[String],
) -> gio_ami::Result<org::Org> {
    let caller = Aws::connect(options).await?;
    let accounts = accounts(spec, &args.accounts, regions, caller.region())?;
    enter(caller, &accounts, &[]).await
}

/// The configured accounts, or without them the caller's account in its region and `alone_in`.
async fn enter(caller: Aws, accounts: &[org::Account], alone_in: &[String]) -> gio_ami::Result<org::Org> {
    match accounts.is_empty() {
        true => Ok(org::Org::alone(caller, alone_in)),
        false => org::Org::connect(&caller, accounts).await,
    }
}

/// The configured accounts with a role, in the region a guard acts in: where use of a shared
/// AMI is checked too. None without `[accounts]`.
async fn consumers(spec: &Path, aws: &Aws) -> gio_ami::Result<org::Org> {
    let spec = optional_spec(spec)?;
    let mut accounts = accounts(spec.as_ref(), &[], &[aws.region().to_string()], aws.region())?;
    accounts.retain(|a| a.role.is_some());
    Ok(org::Org::connect_all(aws, &accounts).await)
}

/// Where a cluster is acted on: the caller's account in `region`, or for a cluster of another
/// configured account, that account (through its role) in the cluster's region, which is then
/// returned too.
async fn cluster_context(
    caller: &Aws,
    spec: Option<&spec::Spec>,
    cluster: &clusters::Cluster,
    region: &str,
) -> gio_ami::Result<(Aws, Option<org::Account>)> {
    let account = accounts(spec, &[], std::slice::from_ref(&cluster.region), &cluster.region)?
        .into_iter()
        .find(|a| a.role.is_some() && cluster.account.as_ref() == Some(&a.name));
    match account {
        Some(account) => {
            let mut org = org::Org::connect(caller, std::slice::from_ref(&account)).await?;
            Ok((org.places.swap_remove(0).aws, Some(account)))
        }
        None => Ok((caller.elsewhere(region, None), None)),
    }
}

/// Reads the Allowed AMIs setting of each account (in `aws`'s region) the images go to: what
/// it refuses is the refusal returned, or with --force a warning; the rest are warnings.
async fn allowed<'a>(
    aws: &Aws,
    mut accounts: Vec<org::Account>,
    images: impl IntoIterator<Item = &'a inventory::Image>,
    warnings: &mut Vec<String>,
    force: bool,
) -> Option<gio_ami::Error> {
    if accounts.is_empty() {
        return None;
    }
    for account in &mut accounts {
        account.regions = vec![aws.region().to_string()];
    }
    let consumers = org::Org::connect_all(aws, &accounts).await;
    let images: Vec<inventory::Image> = images.into_iter().cloned().collect();
    let checked = gio_ami::aws::allowed::check(&consumers, &images).await;
    warnings.extend(checked.warnings);
    match (checked.refusals.is_empty(), force) {
        (true, _) => None,
        (false, true) => {
            warnings.extend(checked.refusals.into_iter().map(|r| format!("--force, although {r}")));
            None
        }
        (false, false) => Some(gio_ami::Error::NotAllowed { reasons: checked.refusals }),
    }
}

/// Prints a plan that must not run, and fails with why.
fn refuse<F: Serialize>(
    output: &Output,
    plan: &change::Plan<F>,
    why: gio_ami::Error,
    own: Own,
) -> anyhow::Result<()> {
    output.report(&Report::new(plan, None), NOTHING_CHANGED, &own)?;
    Err(why.into())
}

/// The closing line of a plan that had nothing to apply, or was stopped.
const NOTHING_CHANGED: &str = "nothing was changed.";

/// How a mutating command was asked to run.
struct Mode {
    /// The verb, for errors.
    command: &'static str,
    dry_run: bool,
    yes: bool,
    /// Deletes or takes away something: asks on a terminal before it applies.
    destructive: bool,
    /// What a dry run did not do, in a word: "nothing was {what}".
    what: &'static str,
    /// The plan's facts also go at the top of the JSON, where scripts read them before the
    /// shared shape (publish's `ami`, adopt's `adopted`).
    facts_on_top: bool,
}

/// The one path of every mutating command once its plan is made: a dry run (or nothing to
/// apply) prints the plan; a destructive plan asks on a terminal unless --yes; then `apply`
/// runs, every outcome is printed with `own` and what the apply made, and a failed step fails
/// the command, named.
async fn execute<F, R, Fut>(
    aws: &Aws,
    output: &Output,
    plan: &change::Plan<F>,
    mode: &Mode,
    own: Own,
    apply: impl FnOnce() -> Fut,
) -> anyhow::Result<()>
where
    F: Serialize,
    R: Made,
    Fut: Future<Output = gio_ami::Result<Applied<R>>>,
{
    let own = if mode.facts_on_top { own.with_top(&plan.facts)? } else { own };
    let unapplied = |note: &str| output.report(&Report::new(plan, None), note, &own);
    if mode.dry_run {
        return Ok(unapplied(&format!("dry run: nothing was {}.", mode.what))?);
    }
    if !plan.applies() {
        return Ok(unapplied(NOTHING_CHANGED)?);
    }
    if mode.destructive && !mode.yes && std::io::stdin().is_terminal() {
        output.plan(plan)?;
        if !confirm("Go ahead as planned? [y/N] ").await? {
            return Err(gio_ami::Error::NotConfirmed(mode.command).into());
        }
    }
    let applied = apply().await?;
    tracing::info!(requests = aws.calls(), "plan applied");
    let report = Report::new(plan, Some(&applied.outcomes));
    output.report(&report, NOTHING_CHANGED, &applied.made.own(own)?)?;
    match report.failure(mode.command) {
        Some(failure) => Err(failure.into()),
        None => Ok(()),
    }
}

/// Asks on the terminal (stderr, so stdout stays the plan); anything but y/yes is a no. The
/// answer is read on a thread of its own, so the run still ends on a Ctrl-C at the question
/// (`run`); that thread is not waited for at exit, as a blocking task of Tokio's would be.
async fn confirm(question: &str) -> std::io::Result<bool> {
    eprint!("{question}");
    let (sender, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = sender.send(std::io::stdin().read_line(&mut answer).map(|_| answer));
    });
    let answer = answer.await.map_err(std::io::Error::other)??;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// A report's warnings (what it could not tell), on stderr whatever the format, so that a
/// degraded report is never mistaken for a complete one.
fn warn(quiet: bool, warnings: &[String]) {
    if !quiet {
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
    }
}

/// Parses every argument before any AWS call, so a typo costs nothing.
fn parse_all<T>(inputs: &[String]) -> gio_ami::Result<Vec<T>>
where
    T: std::str::FromStr,
    gio_ami::Error: From<T::Err>,
{
    inputs.iter().map(|s| Ok(s.parse()?)).collect()
}

pub fn init_logging(cli: &Cli) {
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
        .with_ansi(colour(
            cli.color,
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_target(false)
        .init();
}

/// Colour is for a person at a terminal: by default never in a log file or a CI capture, and
/// never when NO_COLOR is set to anything (https://no-color.org); `--color` decides otherwise.
fn colour(asked: Colour, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    match asked {
        Colour::Always => true,
        Colour::Never => false,
        Colour::Auto => terminal && no_color.is_none_or(|value| value.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::{colour, Colour};
    use std::ffi::OsStr;

    #[test]
    fn colour_only_at_a_terminal_and_only_without_no_color() {
        assert!(colour(Colour::Auto, true, None));
        assert!(colour(Colour::Auto, true, Some(OsStr::new(""))), "an empty NO_COLOR does not count");
        assert!(!colour(Colour::Auto, true, Some(OsStr::new("1"))));
        assert!(!colour(Colour::Auto, false, None), "a pipe or a file gets plain text");
        assert!(colour(Colour::Always, false, Some(OsStr::new("1"))), "asked for: the user knows");
        assert!(!colour(Colour::Never, true, None));
    }
}
