//! Promotion: the release one environment runs goes to the next (staging → prod) once it has
//! soaked there. Every gate is measured and shown with its value; a gate that fails refuses the
//! whole promotion before anything is written. What a promotion writes is a publication
//! (`change::publication`: the target's parameter and the history mark) and, for a cluster
//! with `protect = true`, deregistration protection on the AMI.

use super::{execute, reach, refuse, Apply, Context, Mode, Own};
use crate::aws::allowed;
use crate::aws::clusters;
use crate::aws::inventory::{self, Image, ImageState};
use crate::aws::org::Account;
use crate::aws::parameters::{self, Held, Version};
use crate::aws::Aws;
use crate::change::protection::{self, Want};
use crate::change::publication::{self, Publication};
use crate::change::sharing::{self, Grantees};
use crate::change::{self, Applied, Outcome, Plan, Planned, Procedure, Status, Step, Target};
use crate::core::clock::{self, Timestamp};
use crate::core::ids::AmiId;
use crate::core::kinds::Member;
use crate::engines::copy;
use crate::error::{Error, Result};
use crate::spec::clusters::Cluster;
use crate::spec::{self as specs, clusters as configured};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster to promote to, as named in gio-ami.toml ([clusters.NAME]).
    #[arg(long, value_name = "CLUSTER")]
    pub to: String,

    /// The cluster to take the release from (default: the target's promote_from).
    #[arg(long, value_name = "CLUSTER")]
    pub from: Option<String>,

    /// How long the source must have held the release (default: the target's soak, else none);
    /// given, it overrides the spec and the plan says so. `0s` promotes at once.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub soak: Option<Duration>,

    /// Copy the AMI into the target's region first when it is not there yet.
    #[arg(long)]
    pub copy: bool,

    #[command(flatten)]
    pub apply: Apply,

    /// The spec naming the clusters.
    #[arg(long, value_name = "FILE", default_value = specs::DEFAULT_PATH)]
    pub spec: PathBuf,

    /// Go on although the Allowed AMIs setting of an account it goes to refuses the AMI.
    #[arg(long)]
    pub force: bool,
}

/// What `--output json` prints: the plan, its facts (the gates) also at the top.
pub type Report = super::Mutation<Promotion, Promotion, Step>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy promote`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    &crate::aws::clusters::IAM,
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::aws::parameters::CURRENT,
        crate::aws::parameters::HISTORY,
        crate::aws::parameters::WRITE,
        crate::aws::tagging::CREATE_TAGS,
        crate::change::execute::PROTECT,
        crate::change::execute::SHARE_IMAGE,
        crate::change::execute::SHARE_SNAPSHOT,
        crate::engines::copy::IAM,
    ],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let spec = reach::optional_spec(&args.spec)?;
    let to = configured::configured(spec.as_ref(), &args.to)?;
    let from = match args.from.as_deref().or(to.promote_from.as_deref()) {
        Some(from) => configured::configured(spec.as_ref(), from)?,
        None => return Err(crate::spec::Error::NoPromotionSource { cluster: to.name.clone() }.into()),
    };
    let caller = Aws::connect(&ctx.options).await?;
    let (source, _) = reach::cluster_context(&caller, spec.as_ref(), &from, &from.region).await?;
    let (target, target_account) = reach::cluster_context(&caller, spec.as_ref(), &to, &to.region).await?;
    let soak = match args.soak {
        Some(soak) => Soak::Given { soak, spec: to.soak },
        None => Soak::Spec(to.soak),
    };
    // Where the AMI is owned (the caller's account), in the target's region: a copy is made
    // and looked for there, and its marks, grants and protection go there.
    let home = caller.elsewhere(&to.region, None);
    let request = Request { from, to, soak, copy: args.copy, target_account: target_account.clone() };
    // A release set moves whole: each variant from its parameter to its parameter.
    let members = Member::each(&spec.as_ref().map(specs::Spec::set).unwrap_or_default());
    let prepare_all = || {
        futures::future::try_join_all(members.iter().map(|member| {
            let request = request.for_member(*member, members.len());
            let (source, target, home) = (&source, &target, &home);
            async move { prepare(source, target, home, request?).await }
        }))
    };
    let mut plans = prepare_all().await?;
    let copies: Vec<(Promotion, String)> =
        plans.iter().filter_map(|p| Some((p.facts.clone(), p.facts.copy_to.clone()?))).collect();
    if !copies.is_empty() && !args.apply.dry_run {
        // The copy's id is what the target's parameter gets: copy first, then plan again.
        for (promotion, region) in copies {
            copy_first(ctx, &caller, &promotion, &request.from.region, region).await?;
        }
        plans = prepare_all().await?;
    }
    let mut plan = match members[0] {
        Some(_) => combine(members.iter().flatten().copied().zip(plans).collect()),
        None => plans.remove(0),
    };
    let own = Own { before: gates(&plan.facts), ..Own::default() }.with_top(&plan.facts)?;
    let refusals = plan.facts.refusals();
    if !refusals.is_empty() {
        let why = Error::PromotionRefused { to: plan.facts.to.clone(), reasons: refusals };
        return refuse(ctx, &plan, why, own);
    }
    let targets: Vec<String> = std::iter::once(&plan.facts)
        .chain(&plan.facts.variants)
        .filter_map(|p| p.target_ami.clone())
        .collect();
    if let (Some(account), false) = (target_account, targets.is_empty()) {
        let owned = inventory::any_images_by_id(&home, &targets).await?;
        if let Some(why) = allowed::gate(&home, vec![account], &owned, &mut plan.warnings, args.force).await {
            return refuse(ctx, &plan, why, own);
        }
    }
    let mode = Mode { destructive: false, ..Mode::taking("promote", &args.apply, "written") };
    execute(ctx, &target, &plan, &mode, own, || async { Ok(apply(&home, &target, &plan).await) }).await
}

/// Copies the AMI the source holds into `region` (`--copy`), where the target's parameter
/// then gets the copy's id.
async fn copy_first(
    ctx: &Context<'_>,
    caller: &Aws,
    promotion: &Promotion,
    from: &str,
    region: String,
) -> Result<()> {
    let ami: AmiId = promotion.ami.clone().unwrap_or_default().parse()?;
    let owned = caller.elsewhere(from, None);
    let copying =
        copy::prepare(&owned, &ctx.options, &ami, std::slice::from_ref(&region), &Default::default()).await?;
    let progress = ctx.ui.progress();
    progress.phase(&format!("copying {ami} to {region}"));
    let copied = copy::copy(&ctx.options, &copying, progress.as_ref()).await;
    progress.finish();
    match change::Report::new(&copying, Some(&copied.outcomes)).failure("promote") {
        Some(failed) => Err(failed),
        None => Ok(()),
    }
}

/// A promotion's gates, each with what it measured, before its plan.
fn gates(promotion: &Promotion) -> String {
    let what = match (&promotion.ami, &promotion.release, promotion.variants.len()) {
        (None, Some(release), n) if n > 0 => format!("release {release} ({n} variants)"),
        (ami, release, _) => format!(
            "{}{}",
            ami.as_deref().unwrap_or("nothing"),
            release.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        ),
    };
    let mut text = format!("promote {} -> {}: {what}\n", promotion.from, promotion.to);
    for gate in &promotion.gates {
        text.push_str(&format!("  {} {}\n", if gate.passed { "ok  " } else { "FAIL" }, gate.measured));
    }
    text.push('\n');
    text
}

/// The soak a promotion holds the source to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Soak {
    /// The target's `soak` in the spec; none set means none required.
    Spec(Option<Duration>),
    /// `--soak`, over what the spec says.
    Given { soak: Duration, spec: Option<Duration> },
}

impl Soak {
    fn required(self) -> Option<Duration> {
        match self {
            Soak::Spec(soak) => soak,
            Soak::Given { soak, .. } => Some(soak),
        }
    }
}

/// What to promote where.
#[derive(Debug, Clone)]
pub struct Request {
    pub from: Cluster,
    pub to: Cluster,
    pub soak: Soak,
    /// Copy the AMI into the target's region first when it is not there.
    pub copy: bool,
    /// The account the target runs in, when it is not the one owning the AMI: it must be able
    /// to launch what its parameter gets.
    pub target_account: Option<Account>,
}

impl Request {
    /// The request for one AMI of a release set of `set`: each cluster's parameter filled in.
    fn for_member(&self, member: Option<Member>, set: usize) -> Result<Request> {
        Ok(Request {
            from: publication::for_member(&self.from, member, set)?,
            to: publication::for_member(&self.to, member, set)?,
            ..self.clone()
        })
    }
}

/// A release set's promotion: every variant's gates, each named by its variant, and one more,
/// that the source holds one release in every variant; the writes of all, or none. Pure.
pub fn combine(variants: Vec<(Member, Plan<Promotion, Step>)>) -> Plan<Promotion, Step> {
    let first = &variants[0].1.facts;
    let releases: std::collections::BTreeSet<Option<&str>> =
        variants.iter().map(|(_, p)| p.facts.release.as_deref()).collect();
    let mut promotion = Promotion {
        from: first.from.clone(),
        to: first.to.clone(),
        member: None,
        ami: None,
        release: releases
            .iter()
            .next()
            .copied()
            .flatten()
            .filter(|_| releases.len() == 1)
            .map(str::to_string),
        target_ami: None,
        copy_to: None,
        gates: Vec::new(),
        publication: None,
        variants: Vec::new(),
    };
    let held: Vec<String> = variants
        .iter()
        .map(|(m, p)| {
            format!("{m} {}", p.facts.release.as_deref().or(p.facts.ami.as_deref()).unwrap_or("nothing"))
        })
        .collect();
    promotion.gates.push(match (releases.len(), &promotion.release) {
        (1, Some(release)) => {
            passed(GateKind::OneRelease, format!("{} holds release {release} in every variant", first.from))
        }
        _ => failed(
            GateKind::OneRelease,
            format!(
                "{} holds no one release in every variant ({}): publish one release set to it first",
                first.from,
                held.join(", ")
            ),
        ),
    });
    let mut actions = Vec::new();
    for (member, plan) in variants {
        promotion.gates.extend(
            plan.facts
                .gates
                .iter()
                .map(|g| Gate { measured: format!("{member}: {}", g.measured), ..g.clone() }),
        );
        actions.extend(plan.actions);
        promotion.variants.push(Promotion { member: Some(member), ..plan.facts });
    }
    if !promotion.refusals().is_empty() {
        actions.clear();
    }
    Plan { actions, warnings: Vec::new(), facts: promotion }
}

/// What the gates are judged from, read beforehand so that judging is pure.
#[derive(Debug, Clone)]
pub struct Facts {
    pub request: Request,
    /// The source parameter's versions, oldest first.
    pub history: Vec<Version>,
    /// The AMI the source parameter holds, as its region describes it.
    pub image: Option<Image>,
    /// The AMIs the source cluster runs, or why that could not be read.
    pub running: std::result::Result<HashSet<String>, String>,
    /// The AMI, or its copy, in the target's region (the same as `image` in one region).
    pub target_image: Option<Image>,
    /// The target parameter now: its value and data type.
    pub target_current: Option<Held>,
    /// Whether `target_account` can launch `target_image` (`None`: nothing to ask).
    pub shared: Option<bool>,
    pub now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GateKind {
    /// The source has held the AMI at least the soak.
    Soak,
    /// The source cluster runs it, as observed.
    Running,
    /// It is in the target's region (or `--copy` puts it there).
    Region,
    NotDisabled,
    NotDeprecated,
    /// The target does not hold it already (or only its mark or protection is left to write).
    NotCurrent,
    /// Every variant of a release set comes from one release.
    OneRelease,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Gate {
    pub gate: GateKind,
    pub passed: bool,
    /// What was measured, in a sentence.
    pub measured: String,
}

/// The plan's facts: what goes where, and every gate with its measured value.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Promotion {
    pub from: String,
    pub to: String,
    /// Which AMI of a release set this promotion moves (in `variants`).
    #[serde(flatten)]
    pub member: Option<Member>,
    /// The AMI the source holds.
    pub ami: Option<String>,
    pub release: Option<String>,
    /// The AMI written into the target's parameter: `ami`, or its copy in the target's region.
    pub target_ami: Option<String>,
    /// Set when `--copy` copies the AMI into this region before anything is written.
    pub copy_to: Option<String>,
    pub gates: Vec<Gate>,
    pub publication: Option<Publication>,
    /// A release set's promotion, one per variant; `gates` above holds all of theirs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Promotion>,
}

impl Promotion {
    /// What each failed gate measured: the reasons the promotion is refused.
    pub fn refusals(&self) -> Vec<String> {
        self.gates.iter().filter(|g| !g.passed).map(|g| g.measured.clone()).collect()
    }
}

/// Reads what the gates need: the source parameter's history, the AMI, what the source runs,
/// the AMI's copy in the target's region and the target's value. `source` and `target` are
/// contexts in the two clusters' regions (the same one when they share it); `owner` is the
/// AMI's owner in the target's region, where a copy is made and looked for.
pub async fn prepare(
    source: &Aws,
    target: &Aws,
    owner: &Aws,
    request: Request,
) -> Result<Plan<Promotion, Step>> {
    let parameter = |c: &Cluster| {
        c.ssm_parameter
            .clone()
            .ok_or_else(|| crate::spec::Error::ClusterWithoutParameter { cluster: c.name.clone() })
    };
    let (from_parameter, to_parameter) = (parameter(&request.from)?, parameter(&request.to)?);
    let history = parameters::history(source, &from_parameter).await?;
    let ami = history.last().map(|v| v.value.clone());
    let from_name = [request.from.name.as_str()];
    let (image, running, target_current) = tokio::join!(
        async {
            match &ami {
                Some(ami) => inventory::any_images_by_id(source, std::slice::from_ref(ami))
                    .await
                    .map(|found| found.into_iter().next()),
                None => Ok(None),
            }
        },
        clusters::running_amis(source, &from_name),
        parameters::current(target, &to_parameter),
    );
    let (image, target_current) = (image?, target_current?);
    let running = match running.unread.get(&request.from.name) {
        Some(cause) => Err(cause.clone()),
        None => Ok(running.running.get(&request.from.name).cloned().unwrap_or_default()),
    };
    let target_image = match &image {
        _ if request.from.region == request.to.region => image.clone(),
        // A copy keeps the name and the release tag (`engines::copy`).
        Some(image) => inventory::own_images_named(owner, &image.name)
            .await?
            .into_iter()
            .find(|held| held.release() == image.release()),
        None => None,
    };
    let shared = match (&target_image, &request.target_account) {
        (Some(held), Some(_)) => Some(inventory::launchable(target, held.id.as_str()).await?),
        _ => None,
    };
    let facts = Facts {
        request,
        history,
        image,
        running,
        target_image,
        target_current,
        shared,
        now: clock::now_epoch(),
    };
    Ok(plan(&facts))
}

/// The gates judged, and the writes when every one passes. Pure.
pub fn plan(facts: &Facts) -> Plan<Promotion, Step> {
    let Request { from, to, .. } = &facts.request;
    let mut promotion = Promotion {
        from: from.name.clone(),
        to: to.name.clone(),
        ami: facts
            .image
            .as_ref()
            .map(|i| i.id.to_string())
            .or_else(|| facts.history.last().map(|v| v.value.clone())),
        release: facts.image.as_ref().and_then(|i| i.release()).map(str::to_string),
        target_ami: facts.target_image.as_ref().map(|i| i.id.to_string()),
        copy_to: None,
        gates: Vec::new(),
        publication: None,
        member: None,
        variants: Vec::new(),
    };
    let Some(ami) = promotion.ami.clone() else {
        promotion.gates.push(failed(
            GateKind::Soak,
            format!(
                "{}'s parameter {} holds no AMI: publish a release to it first",
                from.name,
                from.ssm_parameter.as_deref().unwrap_or("-")
            ),
        ));
        return Plan { actions: Vec::new(), warnings: Vec::new(), facts: promotion };
    };
    promotion.gates.push(soak_gate(facts, &ami));
    promotion.gates.push(running_gate(facts, &ami));
    let copying = facts.target_image.is_none() && facts.request.copy && facts.image.is_some();
    promotion.gates.push(region_gate(facts, &ami, copying));
    promotion.gates.extend(launch_gates(facts, &ami));
    let mut actions: Vec<Step> = Vec::new();
    if copying {
        promotion.copy_to = Some(to.region.clone());
        let source = AmiId::from_aws(&ami);
        actions.push(Step::Procedure(Procedure::CopyImage {
            id: Target::Planned(source.clone()),
            source,
            region: to.region.clone(),
            why: format!(
                "cluster {} runs in {}; the copy is then {}written to {}",
                to.name,
                to.region,
                facts
                    .request
                    .target_account
                    .as_ref()
                    .map(|a| format!("shared with account {} and ", a.name))
                    .unwrap_or_default(),
                to.ssm_parameter.as_deref().unwrap_or("-")
            ),
        }));
    }
    if let (Some(account), Some(target), Some(false)) =
        (&facts.request.target_account, &facts.target_image, facts.shared)
    {
        let with = Grantees {
            accounts: account.id().map(str::to_string).into_iter().collect(),
            ..Grantees::default()
        };
        let grants = sharing::plan(std::slice::from_ref(target), &with, true).actions;
        actions.extend(grants.into_iter().map(Step::from));
    }
    if let Some(target) = &facts.target_image {
        match publication::plan(to, target, &to.region, facts.target_current.clone()) {
            Ok(p) => {
                let mut written = publication::actions(p.clone()).actions;
                if to.protect {
                    written.push(protection::action(target, Want::Protect { cooldown: false }));
                }
                let left = written.iter().any(|a| !a.is_noop());
                promotion.gates.push(match (p.changes_parameter, left) {
                    (true, _) => passed(
                        GateKind::NotCurrent,
                        format!("{} holds {} now", to.name, p.previous.as_deref().unwrap_or("nothing")),
                    ),
                    (false, true) => passed(
                        GateKind::NotCurrent,
                        format!(
                            "{} already holds {}: only its mark and protection are left to write",
                            to.name, target.id
                        ),
                    ),
                    (false, false) => failed(
                        GateKind::NotCurrent,
                        format!("{} already holds {}: nothing to promote", to.name, target.id),
                    ),
                });
                promotion.publication = Some(p);
                actions.extend(written.into_iter().map(Step::from));
            }
            Err(e) => promotion.gates.push(failed(GateKind::Region, e.to_string())),
        }
    }
    // Nothing is written past a failed gate: the plan then only shows why.
    if !promotion.refusals().is_empty() {
        actions.clear();
    }
    Plan { actions, warnings: Vec::new(), facts: promotion }
}

/// Whether the AMI (and its copy in the target's region) can be launched at all: not disabled,
/// not deprecated.
fn launch_gates(facts: &Facts, ami: &str) -> [Gate; 2] {
    let images: Vec<&Image> = facts
        .image
        .iter()
        .chain(facts.target_image.iter().filter(|t| Some(&t.id) != facts.image.as_ref().map(|i| &i.id)))
        .collect();
    let disabled = match images.iter().find(|i| i.state == ImageState::Disabled) {
        Some(i) => failed(GateKind::NotDisabled, format!("{} is disabled: nothing can launch it; re-enable it (`gio-ami enable {}`) or promote another release", i.id, i.id)),
        None => passed(GateKind::NotDisabled, format!("{ami} is not disabled")),
    };
    let deprecated = match images.iter().find(|i| i.deprecated(facts.now)) {
        Some(i) => failed(
            GateKind::NotDeprecated,
            format!(
                "{} is deprecated since {}: cancel it (`aws ec2 disable-image-deprecation --image-id {}`) or promote a newer release",
                i.id,
                i.deprecation_time.as_ref().map_or("?", Timestamp::as_str),
                i.id
            ),
        ),
        None => passed(GateKind::NotDeprecated, format!("{ami} is not deprecated")),
    };
    [disabled, deprecated]
}

/// Writes the plan, made again once its copy is (`copy::copy` makes it first: the parameter
/// names the copy): its marks, grants and protection in `owner`, its parameter in `consumer`.
/// A copy still planned is one made but not found in its region yet: a failed step, so the
/// command says so, and a re-run (which finds it) writes the rest.
pub async fn apply(owner: &Aws, consumer: &Aws, plan: &Plan<Promotion, Step>) -> Applied<(), Step> {
    let (actions, copies) = change::split(&plan.actions);
    let applied = change::apply_across(owner, consumer, &actions).await;
    let unmade = copies.into_iter().map(|copy| {
        let why = format!("{} {} is not found in its region yet: run promote again", copy.verb(), copy.id());
        Outcome { action: Step::Procedure(copy), status: Status::Failed(why.into()) }
    });
    applied.into_iter().map(Outcome::into_step).chain(unmade).collect::<Vec<_>>().into()
}

fn passed(gate: GateKind, measured: String) -> Gate {
    Gate { gate, passed: true, measured }
}

fn failed(gate: GateKind, measured: String) -> Gate {
    Gate { gate, passed: false, measured }
}

fn soak_gate(facts: &Facts, ami: &str) -> Gate {
    let Request { from, to, soak, .. } = &facts.request;
    let said = match soak {
        Soak::Given { soak, spec: Some(spec) } => format!(
            " (--soak {} overrides the spec's {})",
            span(soak.as_secs() as i64),
            span(spec.as_secs() as i64)
        ),
        Soak::Given { soak, spec: None } => {
            format!(" (--soak {}; the spec sets none)", span(soak.as_secs() as i64))
        }
        Soak::Spec(_) => String::new(),
    };
    let Some(required) = soak.required() else {
        return passed(GateKind::Soak, format!("no soak is set for {} (clusters.{}.soak)", to.name, to.name));
    };
    let required = required.as_secs() as i64;
    let Some(written) = parameters::held_since(&facts.history).and_then(|v| v.written) else {
        return failed(
            GateKind::Soak,
            format!(
                "SSM did not say when {}'s parameter took {ami}, so its soak cannot be measured",
                from.name
            ),
        );
    };
    let had = (facts.now - written).max(0);
    if had >= required {
        passed(
            GateKind::Soak,
            format!("{} has had {ami} for {} ≥ {}{said}", from.name, span(had), span(required)),
        )
    } else {
        failed(
            GateKind::Soak,
            format!(
                "{} has had {ami} for {}, less than the soak of {}{said}: {} to go",
                from.name,
                span(had),
                span(required),
                span(required - had)
            ),
        )
    }
}

fn running_gate(facts: &Facts, ami: &str) -> Gate {
    let from = &facts.request.from.name;
    match &facts.running {
        Err(cause) => failed(
            GateKind::Running,
            format!("what {from} runs could not be read, so nothing says {ami} ran there: {cause}"),
        ),
        Ok(running) if running.contains(ami) => {
            passed(GateKind::Running, format!("{from} runs {ami} (nodegroup launch templates, tagged nodes)"))
        }
        Ok(running) => {
            let mut others: Vec<&str> = running.iter().map(String::as_str).collect();
            others.sort_unstable();
            let instead = if others.is_empty() { "no node at all".to_string() } else { others.join(", ") };
            failed(
                GateKind::Running,
                format!("{ami} is published to {from} but no node of {from} runs it (it runs {instead})"),
            )
        }
    }
}

fn region_gate(facts: &Facts, ami: &str, copying: bool) -> Gate {
    let region = &facts.request.to.region;
    match (&facts.target_image, &facts.image) {
        (_, None) => failed(GateKind::Region, format!("{ami} was not found in {}", facts.request.from.region)),
        (Some(target), _) if target.state == ImageState::Available || target.state == ImageState::Disabled => {
            let what = if target.id == ami { target.id.to_string() } else { format!("{} (the copy of {ami})", target.id) };
            passed(GateKind::Region, format!("{what} is in {region}"))
        }
        (Some(target), _) => failed(GateKind::Region, format!("{} in {region} is `{}`, not available: wait for it (`gio-ami images --region {region}`)", target.id, target.state)),
        (None, Some(_)) if copying => passed(GateKind::Region, format!("{region} has no copy of {ami}: --copy makes one first")),
        (None, Some(_)) => failed(GateKind::Region, format!("{ami} is not in {region}: pass --copy, or copy it first (`gio-ami copy {ami} --to {region}`)")),
    }
}

/// A span in hours and minutes (`51h`, `47h 30m`, `45m`), as soaks are spoken of.
fn span(secs: i64) -> String {
    let (hours, minutes) = (secs / 3600, secs % 3600 / 60);
    match (hours, minutes) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;
    use crate::aws::org::Role;
    use crate::change::Action;
    use crate::core::kinds::DataType;

    const NOW: i64 = 1_796_164_800;
    const HOUR: i64 = 3600;

    fn cluster(name: &str, region: &str) -> Cluster {
        Cluster {
            name: name.into(),
            region: region.into(),
            ssm_parameter: Some(format!("/gio/{name}")),
            ..Cluster::default()
        }
    }

    fn version(version: i64, value: &str, written: i64) -> Version {
        Version { version, value: value.into(), written: Some(written), data_type: DataType::Image.into() }
    }

    fn held(value: &str) -> Option<Held> {
        Some(Held { value: value.into(), data_type: DataType::Image.into() })
    }

    /// staging has run ami-0000000a for 51 h; prod holds ami-00000009 and wants a 48 h soak.
    fn facts() -> Facts {
        let mut prod = cluster("prod", "eu-west-1");
        prod.soak = Some(Duration::from_secs(48 * 3600));
        prod.protect = true;
        let ami = image("ami-0000000a", "2026-01-01", &[]);
        Facts {
            request: Request {
                from: cluster("staging", "eu-west-1"),
                to: prod.clone(),
                soak: Soak::Spec(prod.soak),
                copy: false,
                target_account: None,
            },
            history: vec![
                version(1, "ami-00000009", NOW - 300 * HOUR),
                version(2, "ami-0000000a", NOW - 51 * HOUR),
            ],
            image: Some(ami.clone()),
            running: Ok(HashSet::from(["ami-0000000a".to_string()])),
            target_image: Some(ami),
            target_current: held("ami-00000009"),
            shared: None,
            now: NOW,
        }
    }

    fn verdicts(plan: &Plan<Promotion, Step>) -> Vec<(GateKind, bool)> {
        plan.facts.gates.iter().map(|g| (g.gate, g.passed)).collect()
    }

    #[test]
    fn a_soaked_running_release_is_written_marked_and_protected() {
        let plan = plan(&facts());
        assert!(plan.facts.refusals().is_empty(), "{:?}", plan.facts.gates);
        assert_eq!(plan.facts.gates[0].measured, "staging has had ami-0000000a for 51h ≥ 48h");
        let verbs: Vec<&str> = plan.actions.iter().map(|a| a.verb()).collect();
        assert_eq!(verbs, ["put", "tag", "protect"]);
    }

    #[test]
    fn a_set_moves_whole_or_not_at_all() {
        use crate::core::kinds::{Arch, Variant};
        let member = |arch| Member { arch, variant: Variant::Standard };
        let release = |mut facts: Facts, release: &str| {
            for image in facts.image.iter_mut().chain(facts.target_image.iter_mut()) {
                image.tags.insert(crate::core::tags::RELEASE.into(), release.into());
            }
            facts
        };
        let both = combine(vec![
            (member(Arch::X86_64), plan(&release(facts(), "r1"))),
            (member(Arch::Arm64), plan(&release(facts(), "r1"))),
        ]);
        assert!(both.facts.refusals().is_empty(), "{:?}", both.facts.gates);
        assert_eq!(both.facts.release.as_deref(), Some("r1"));
        assert_eq!(both.facts.gates[0].measured, "staging holds release r1 in every variant");
        assert_eq!(both.actions.len(), 6, "each variant's put, tag and protect");
        assert_eq!(both.facts.variants[1].member, Some(member(Arch::Arm64)));

        let mut early = release(facts(), "r1");
        early.history[1].written = Some(NOW - 3 * HOUR);
        let refused = combine(vec![
            (member(Arch::X86_64), plan(&release(facts(), "r1"))),
            (member(Arch::Arm64), plan(&early)),
        ]);
        assert!(refused.actions.is_empty(), "one variant's failed gate writes neither");
        assert_eq!(
            refused.facts.refusals(),
            ["arm64/standard: staging has had ami-0000000a for 3h, less than the soak of 48h: 45h to go"]
        );

        let mixed = combine(vec![
            (member(Arch::X86_64), plan(&release(facts(), "r1"))),
            (member(Arch::Arm64), plan(&release(facts(), "r2"))),
        ]);
        assert!(mixed.actions.is_empty());
        assert!(mixed.facts.refusals()[0].starts_with(
            "staging holds no one release in every variant (x86_64/standard r1, arm64/standard r2)"
        ));
    }

    #[test]
    fn each_gate_refuses_with_what_it_measured() {
        let mut early = facts();
        early.history[1].written = Some(NOW - 3 * HOUR);
        let refused = plan(&early);
        assert!(refused.actions.is_empty(), "nothing is written past a failed gate");
        assert_eq!(
            refused.facts.refusals(),
            ["staging has had ami-0000000a for 3h, less than the soak of 48h: 45h to go"]
        );

        let mut elsewhere = facts();
        elsewhere.running = Ok(HashSet::from(["ami-00000009".to_string()]));
        assert!(plan(&elsewhere).facts.refusals()[0]
            .contains("no node of staging runs it (it runs ami-00000009)"));

        let mut unread = facts();
        unread.running = Err("DescribeInstances failed".into());
        assert!(plan(&unread).facts.refusals()[0].starts_with("what staging runs could not be read"));

        let mut disabled = facts();
        disabled.image.as_mut().unwrap().state = "disabled".into();
        disabled.target_image = disabled.image.clone();
        assert!(verdicts(&plan(&disabled)).contains(&(GateKind::NotDisabled, false)));

        let mut deprecated = facts();
        deprecated.image.as_mut().unwrap().deprecation_time = "2026-11-01T00:00:00.000Z".parse().ok();
        deprecated.target_image = deprecated.image.clone();
        assert!(plan(&deprecated).facts.refusals()[0].contains("deprecated since 2026-11-01"));

        let mut current = facts();
        current.target_current = held("ami-0000000a");
        current.target_image.as_mut().unwrap().tags.insert(crate::core::tags::CLUSTERS.into(), "prod".into());
        current.target_image.as_mut().unwrap().protection =
            inventory::Protection::Enabled { cooldown: false };
        assert_eq!(plan(&current).facts.refusals(), ["prod already holds ami-0000000a: nothing to promote"]);
    }

    #[test]
    fn a_rerun_after_a_crash_finishes_what_is_left() {
        let mut half = facts();
        half.target_current = held("ami-0000000a");
        let plan = plan(&half);
        assert!(plan.facts.refusals().is_empty());
        let work: Vec<&str> = plan.actions.iter().filter(|a| !a.is_noop()).map(|a| a.verb()).collect();
        assert_eq!(work, ["tag", "protect"]);
    }

    #[test]
    fn a_given_soak_overrides_the_spec_and_says_so() {
        let mut now = facts();
        now.history[1].written = Some(NOW - 60);
        now.request.soak = Soak::Given { soak: Duration::ZERO, spec: now.request.to.soak };
        let plan = plan(&now);
        assert!(plan.facts.refusals().is_empty());
        assert_eq!(
            plan.facts.gates[0].measured,
            "staging has had ami-0000000a for 1m ≥ 0s (--soak 0s overrides the spec's 48h)"
        );
    }

    #[test]
    fn another_region_needs_the_copy_or_copy() {
        let mut far = facts();
        far.request.to.region = "us-east-1".into();
        far.target_image = None;
        assert!(plan(&far).facts.refusals()[0]
            .contains("pass --copy, or copy it first (`gio-ami copy ami-0000000a --to us-east-1`)"));
        far.request.copy = true;
        let copying = plan(&far);
        assert!(copying.facts.refusals().is_empty());
        assert_eq!(copying.facts.copy_to.as_deref(), Some("us-east-1"));
        assert_eq!(copying.actions.iter().map(|a| a.verb()).collect::<Vec<_>>(), ["copy"]);
    }

    #[test]
    fn another_account_is_granted_the_ami_before_its_parameter_names_it() {
        let mut elsewhere = facts();
        let role = Role {
            arn: "arn:aws:iam::222233334444:role/reader".into(),
            external_id: None,
            session_name: None,
        };
        elsewhere.request.target_account =
            Some(Account { name: "prod".into(), role: Some(role), regions: vec![] });
        elsewhere.shared = Some(false);
        let granting = plan(&elsewhere);
        assert!(granting.facts.refusals().is_empty());
        let grant = granting
            .actions
            .iter()
            .find(|a| matches!(a, Step::Action(Action::ModifyLaunchPermission { .. })))
            .expect("a launch permission for prod");
        assert!(
            matches!(grant, Step::Action(Action::ModifyLaunchPermission { with, .. }) if with.accounts == ["222233334444"]),
            "{grant:?}"
        );
        elsewhere.shared = Some(true);
        assert!(
            !plan(&elsewhere).actions.iter().any(|a| a.verb() == "grant"),
            "already shared: nothing to grant"
        );
        elsewhere.request.to.region = "us-east-1".into();
        (elsewhere.target_image, elsewhere.shared, elsewhere.request.copy) = (None, None, true);
        let copying = plan(&elsewhere);
        assert!(copying.actions[0].why().contains("shared with account prod"), "{copying:?}");
    }

    #[test]
    fn spans_read_as_hours_and_minutes() {
        assert_eq!(span(51 * HOUR), "51h");
        assert_eq!(span(47 * HOUR + 30 * 60), "47h 30m");
        assert_eq!(span(45 * 60), "45m");
        assert_eq!(span(20), "20s");
        assert_eq!(span(0), "0s");
    }
}
