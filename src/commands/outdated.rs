//! Which clusters run a node image whose EKS-optimized base has newer releases. AWS publishes no
//! event when a new base comes out, so this is the poll a scheduled job runs: per cluster, the
//! releases it runs (observed) and was published, the base each was built on (its tags), the
//! base recommended now for the same family, Kubernetes version, architecture and variant (the
//! public SSM parameters), how far apart the two are, and the control plane's version and
//! support. Calls grow with clusters and distinct bases, never with releases.

use super::line::OrgArgs;
use super::{reach, Context};
use crate::aws::base::{self, Base, Query};
use crate::aws::control_plane::Support;
use crate::aws::control_plane::{self, ControlPlane};
use crate::aws::inventory::{self, Image};
use crate::aws::org::{Org, Place};
use crate::aws::{clusters, parameters, Aws};
use crate::core::choice::Choice;
use crate::core::clock::{self, Timestamp};
use crate::core::iam::optional;
use crate::core::ids::AmiId;
use crate::core::kinds::{Arch, Family, Member, Variant};
use crate::core::show::{Cell, Draw, Table, Text};
use crate::core::tags;
use crate::error::Error;
use crate::error::Result;
use crate::spec::clusters as configured;
use crate::spec::clusters::Cluster;
use futures::future::join_all;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this cluster (repeatable; default: every cluster of gio-ami.toml). A name the spec
    /// does not know is looked for in --region.
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,

    /// Exit 3 when a cluster runs a release whose base is more than AGE older than the one
    /// recommended now (`0d`: any newer base), e.g. 30d.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub fail_if_behind: Option<Duration>,

    /// Instead of the clusters: how far behind this AMI's base is (ami-…, in --region).
    #[arg(value_name = "AMI_ID", conflicts_with_all = ["release", "clusters"])]
    pub ami: Option<String>,

    /// Instead of the clusters: how far behind the bases of this release's AMIs are (a release
    /// set's every variant, each against its own architecture's and variant's base).
    #[arg(long, value_name = "NAME", conflicts_with = "clusters")]
    pub release: Option<String>,

    #[command(flatten)]
    pub org: OrgArgs,
}

/// What `--output json` prints.
pub type Report = Outdated;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy outdated`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    &optional(crate::aws::base::IAM, "recommended base check"),
    &optional(crate::aws::clusters::IAM, "which clusters run each release"),
    &optional(crate::aws::control_plane::IAM, "control plane support dates"),
    &[crate::aws::parameters::CURRENT.optional("published release check")],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let ami: Option<AmiId> = args.ami.as_deref().map(str::parse).transpose()?;
    let report = match (ami, &args.release) {
        (None, None) => of_clusters(&args, ctx).await?,
        (ami, release) => {
            let aws = Aws::connect(&ctx.options).await?;
            let ids = inventory::own_ids(&aws, ami.into_iter().collect(), release.as_deref()).await?;
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            of_amis(&aws, ids).await
        }
    };
    ctx.ui.warn(&report.warnings);
    ctx.ui.show(&report)?;
    let Some(age) = args.fail_if_behind else { return Ok(()) };
    let clusters = report.behind(age);
    let amis: Vec<String> = report.amis.iter().filter(|n| n.behind(age)).map(|n| n.ami.clone()).collect();
    // As the user wrote it, near enough: whole days as days.
    let age = match age.as_secs() % 86_400 {
        0 => format!("{}d", age.as_secs() / 86_400),
        _ => humantime::format_duration(age).to_string(),
    };
    match (clusters.is_empty(), amis.is_empty()) {
        (false, _) => Err(Error::Behind { clusters, age }),
        (true, false) => Err(Error::AmisBehind { amis, age }),
        (true, true) => Ok(()),
    }
}

/// How far behind the bases of these AMIs (of `aws`'s account and region) are.
async fn of_amis(aws: &Aws, ids: Vec<String>) -> Outdated {
    let mut warnings = Vec::new();
    let mut amis: Vec<Node> = ids.iter().map(|id| Node::new(id.clone(), false, false)).collect();
    if let Some(bases) = Bases::read(aws, &ids, &mut warnings).await {
        let now = clock::now_epoch();
        for node in &mut amis {
            bases.assess(aws, node, None, now);
        }
    }
    Outdated { clusters: Vec::new(), amis, api_calls: aws.calls(), warnings }
}

/// Every cluster's releases, running and published, against the bases recommended now.
async fn of_clusters(args: &Args, ctx: &Context<'_>) -> Result<Outdated> {
    let (spec, caller, accounts) = reach::configured(ctx, &args.org).await?;
    let mut clusters = configured::select(spec.as_ref(), &args.clusters, caller.region());
    if !args.org.accounts.is_empty() {
        clusters.retain(|c| c.account.as_ref().is_some_and(|a| args.org.accounts.contains(a)));
    }
    if clusters.is_empty() {
        return Err(Error::NoClusters { spec: args.org.spec.display().to_string() });
    }
    let regions: Vec<String> = clusters.iter().map(|c| c.region.clone()).collect();
    let org = reach::enter(caller, &accounts, &regions).await?;
    let set = spec.as_ref().map(crate::spec::Spec::set).unwrap_or_default();
    let report = gather(&org, &clusters, &set).await?;
    tracing::info!(api_calls = report.api_calls, clusters = report.clusters.len(), "outdated read");
    Ok(report)
}

const DAY: i64 = 86_400;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Outdated {
    pub clusters: Vec<ClusterState>,
    /// The AMIs asked about (`outdated AMI_ID`, `--release NAME`), instead of the clusters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amis: Vec<Node>,
    /// AWS requests the report took: they grow with clusters and regions, not with releases.
    pub api_calls: usize,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ClusterState {
    pub name: String,
    /// Its `[accounts]` name; absent without `[accounts]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub region: String,
    /// `None`: not an EKS cluster in its region, or it could not be read (then a warning).
    pub control_plane: Option<ControlPlane>,
    /// What it runs (observed) and what was published to it, one entry per AMI.
    pub releases: Vec<Node>,
}

/// One AMI a cluster runs or was published.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Node {
    pub ami: String,
    pub release: Option<String>,
    pub running: bool,
    pub published: bool,
    /// The Kubernetes version the image was built for.
    pub kubernetes: Option<String>,
    /// Minor versions the nodes trail the control plane (negative: ahead, not allowed).
    pub skew: Option<i64>,
    /// The base it was built on, as recorded at build or adopt time.
    pub base: Option<BaseState>,
    /// The base recommended now for the same family, version, architecture and variant.
    pub recommended: Option<BaseState>,
    /// Whether the recommended base is another (newer) one; `None` when that cannot be told.
    pub newer_base: Option<bool>,
    /// Days between the two bases' creation; `None` when a date is unknown.
    pub behind_days: Option<i64>,
    /// Why the comparison could not be made, when it could not.
    pub unknown: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct BaseState {
    pub ami: String,
    pub name: Option<String>,
    pub release_version: Option<String>,
    pub created: Option<Timestamp>,
    pub deprecated: bool,
}

impl Node {
    /// Where the AMI was seen, before anything is known of its base.
    fn new(ami: String, running: bool, published: bool) -> Node {
        Node {
            ami,
            release: None,
            running,
            published,
            kubernetes: None,
            skew: None,
            base: None,
            recommended: None,
            newer_base: None,
            behind_days: None,
            unknown: None,
        }
    }

    /// Further behind than `age`: a newer base exists whose creation is more than `age` after
    /// this one's (`0d`: any newer base). A newer base whose distance is unknown counts.
    fn behind(&self, age: Duration) -> bool {
        match (self.newer_base, self.behind_days) {
            (Some(true), _) if age.is_zero() => true,
            (Some(true), Some(days)) => days * DAY > age.as_secs() as i64,
            (Some(true), None) => true,
            _ => false,
        }
    }
}

impl Outdated {
    /// The clusters running (or, when nothing runs is observed, published) a release further
    /// behind than `age`.
    pub fn behind(&self, age: Duration) -> Vec<String> {
        self.clusters
            .iter()
            .filter(|c| {
                let running: Vec<&Node> = c.releases.iter().filter(|n| n.running).collect();
                let judged = if running.is_empty() { c.releases.iter().collect() } else { running };
                judged.iter().any(|n| n.behind(age))
            })
            .map(|c| c.name.clone())
            .collect()
    }
}

/// Reads every cluster, each region concurrently.
/// `members` are the spec's release set (each cluster's parameter is one per variant), empty
/// without `[[variants]]`.
pub async fn gather(org: &Org, clusters: &[Cluster], members: &[Member]) -> Result<Outdated> {
    let now = clock::now_epoch();
    let read = org
        .each(|place| {
            let here: Vec<&Cluster> = clusters
                .iter()
                .filter(|c| c.account == place.account && c.region == place.aws.region())
                .collect();
            async move {
                match here.is_empty() {
                    true => Ok((Vec::new(), Vec::new())),
                    false => Ok(read_region(place, here, members, now).await),
                }
            }
        })
        .await;
    let mut report =
        Outdated { clusters: Vec::new(), amis: Vec::new(), api_calls: 0, warnings: org.warnings() };
    for (_, read) in read {
        let (states, warnings) = read?;
        report.clusters.extend(states);
        report.warnings.extend(warnings);
    }
    for (cluster, why) in
        clusters.iter().filter_map(|c| Some((c, org.missing(c.account.as_deref(), &c.region)?)))
    {
        report
            .warnings
            .push(format!("cluster `{}` was not read, its releases are left out: {why}", cluster.name));
    }
    report.clusters.sort_by(|a, b| a.name.cmp(&b.name));
    report.api_calls = org.calls();
    Ok(report)
}

/// The clusters of one region: what they run and were published, their control planes, the
/// AMIs behind both, and the bases old and new. Look-ups that fail become warnings and unknowns.
async fn read_region(
    place: &Place,
    clusters: Vec<&Cluster>,
    members: &[Member],
    now: i64,
) -> (Vec<ClusterState>, Vec<String>) {
    let aws = &place.aws;
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let (observed, published, planes) = tokio::join!(
        clusters::running_amis(aws, &names),
        join_all(clusters.iter().map(|c| async move {
            let names = c.parameters(members);
            let values = join_all(names.iter().map(|(_, name)| parameters::current_value(aws, name))).await;
            values.into_iter().collect::<Result<Vec<Option<String>>>>()
        })),
        join_all(clusters.iter().map(|c| control_plane::of_cluster(aws, &c.name))),
    );
    let mut warnings = observed.warnings("its running releases are left out");
    let mut states = Vec::new();
    for ((cluster, published), plane) in clusters.iter().zip(published).zip(planes) {
        let published = published.unwrap_or_else(|e| {
            warnings.push(format!("cluster `{}`: its parameter could not be read: {e}", cluster.name));
            Vec::new()
        });
        let plane = plane.unwrap_or_else(|e| {
            warnings.push(format!("cluster `{}`: its control plane could not be read: {e}", cluster.name));
            None
        });
        let mut amis: BTreeMap<String, (bool, bool)> = BTreeMap::new();
        for ami in observed.running.get(&cluster.name).into_iter().flatten() {
            amis.entry(ami.clone()).or_default().0 = true;
        }
        for ami in published.into_iter().flatten() {
            amis.entry(ami).or_default().1 = true;
        }
        let releases =
            amis.into_iter().map(|(ami, (running, published))| Node::new(ami, running, published)).collect();
        states.push(ClusterState {
            name: cluster.name.clone(),
            account: place.account.clone(),
            region: cluster.region.clone(),
            control_plane: plane,
            releases,
        });
    }
    let ids: Vec<String> = states
        .iter()
        .flat_map(|s| s.releases.iter().map(|n| n.ami.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let Some(bases) = Bases::read(aws, &ids, &mut warnings).await else { return (states, warnings) };
    for state in &mut states {
        let plane = state.control_plane.as_ref().map(|p| p.version.clone());
        for node in &mut state.releases {
            bases.assess(aws, node, plane.as_deref(), now);
        }
    }
    (states, warnings)
}

/// What AMIs are compared from: the AMIs, the bases they record, and the base recommended now
/// for each distinct query (one resolution per query, one DescribeImages for every recorded base).
struct Bases {
    images: Vec<Image>,
    queries: Vec<Query>,
    recommended: Vec<Result<Base>>,
    recorded: Vec<Image>,
}

impl Bases {
    /// `None` when the AMIs could not be described (a warning says so: how far behind they are
    /// is unknown).
    async fn read(aws: &Aws, ids: &[String], warnings: &mut Vec<String>) -> Option<Bases> {
        let images = match inventory::any_images_by_id(aws, ids).await {
            Ok(images) => images,
            Err(e) => {
                warnings.push(format!(
                    "{}: the AMIs could not be described, so how far behind they are is unknown: {e}",
                    aws.region()
                ));
                return None;
            }
        };
        let mut queries: Vec<Query> = Vec::new();
        for query in images.iter().filter_map(|i| query(i).ok()) {
            if !queries.contains(&query) {
                queries.push(query);
            }
        }
        let recommended = join_all(queries.iter().map(|q| base::resolve(aws, q))).await;
        let recorded_ids: BTreeSet<String> =
            images.iter().filter_map(|i| i.tags.get(tags::BASE_AMI).cloned()).collect();
        let recorded = inventory::any_images_by_id(aws, &recorded_ids.into_iter().collect::<Vec<_>>())
            .await
            .unwrap_or_else(|e| {
                warnings.push(format!(
                    "{}: the recorded bases could not be described, so their dates are unknown: {e}",
                    aws.region()
                ));
                Vec::new()
            });
        Some(Bases { images, queries, recommended, recorded })
    }

    /// Fills in `node` (its AMI read here) against its cluster's control plane.
    fn assess(&self, aws: &Aws, node: &mut Node, plane: Option<&str>, now: i64) {
        let Some(image) = self.images.iter().find(|i| i.id == node.ami) else {
            node.unknown = Some(format!(
                "{} is not in {} (deregistered, or not shared with this account)",
                node.ami,
                aws.region()
            ));
            return;
        };
        let recommended = query(image).and_then(|q| {
            let at = self.queries.iter().position(|known| *known == q).expect("every query was resolved");
            self.recommended[at]
                .as_ref()
                .map_err(|e| format!("the recommended base could not be resolved: {e}"))
        });
        assess(node, image, &self.recorded, recommended, plane, now);
    }
}

/// The base query an AMI was built from, read from its tags.
fn query(image: &Image) -> std::result::Result<Query, String> {
    let tag = |key: &str| image.tags.get(key).map(String::as_str);
    let family = tag(tags::FAMILY).and_then(Family::from_name);
    match (family, tag(tags::KUBERNETES)) {
        (Some(family), Some(kubernetes)) => Ok(Query {
            family,
            kubernetes: kubernetes.to_string(),
            arch: image.architecture.as_deref().and_then(Arch::from_name).unwrap_or(Arch::X86_64),
            variant: tag(tags::VARIANT).and_then(Variant::from_name).unwrap_or(Variant::Standard),
        }),
        _ => Err(format!(
            "{} records no EKS-optimized base (tags {} and {}): it was built on an explicit AMI, or not by gio-ami",
            image.id,
            tags::FAMILY,
            tags::KUBERNETES
        )),
    }
}

/// Fills in what `image` was built on against what is recommended now. Pure.
fn assess(
    node: &mut Node,
    image: &Image,
    recorded: &[Image],
    recommended: std::result::Result<&Base, String>,
    plane: Option<&str>,
    now: i64,
) {
    let tag = |key: &str| image.tags.get(key).cloned();
    node.release = image.release().map(str::to_string);
    node.kubernetes = tag(tags::KUBERNETES);
    node.skew =
        plane.zip(node.kubernetes.as_deref()).and_then(|(plane, node)| control_plane::skew(plane, node));
    node.base = tag(tags::BASE_AMI).map(|ami| {
        let described = recorded.iter().find(|b| b.id == ami);
        BaseState {
            name: tag(tags::BASE_NAME).or_else(|| described.map(|b| b.name.clone())),
            release_version: tag(tags::BASE_RELEASE),
            created: described.and_then(|b| b.created.clone()),
            deprecated: described.is_some_and(|b| b.deprecated(now)),
            ami,
        }
    });
    let recommended = match recommended {
        Ok(base) => base,
        Err(why) => {
            node.unknown = Some(why);
            return;
        }
    };
    node.recommended = Some(BaseState {
        ami: recommended.image.id.to_string(),
        name: Some(recommended.image.name.clone()),
        release_version: recommended.release_version.clone(),
        created: recommended.image.created.clone(),
        deprecated: recommended.image.deprecated(now),
    });
    let Some(base) = &node.base else {
        node.unknown = Some(format!(
            "{} carries no {} tag: `gio-ami adopt {} --base AMI_ID` records it",
            image.id,
            tags::BASE_AMI,
            image.id
        ));
        return;
    };
    let newer = base.ami != recommended.image.id;
    node.newer_base = Some(newer);
    let created = |time: &Option<Timestamp>| time.as_ref().map(Timestamp::epoch);
    node.behind_days = match newer {
        false => Some(0),
        true => created(&recommended.image.created)
            .zip(created(&base.created))
            .map(|(new, old)| ((new - old) / DAY).max(0)),
    };
}

/// Per cluster and release: the base it was built on against the one recommended now.
impl Text for Outdated {
    fn text(&self, draw: &dyn Draw) -> String {
        if !self.amis.is_empty() {
            let mut table = Table::new(&["AMI", "RELEASE", "BASE", "RECOMMENDED", "BEHIND"]);
            let mut unknown = String::new();
            for node in &self.amis {
                table.row(
                    [
                        node.ami.clone(),
                        node.release.clone().unwrap_or_else(|| "?".into()),
                        base_text(&node.base),
                        base_text(&node.recommended),
                        node.behind_text(),
                    ]
                    .into_iter()
                    .map(Cell::new)
                    .collect(),
                );
                if let Some(why) = &node.unknown {
                    unknown.push_str(&format!("{}: {why}\n", node.ami));
                }
            }
            return format!("{}\n{unknown}{} AWS requests.\n", draw.table(&table), self.api_calls);
        }
        let mut table =
            Table::new(&["CLUSTER", "KUBERNETES", "RELEASE", "ON NODES", "BASE", "RECOMMENDED", "BEHIND"]);
        for cluster in &self.clusters {
            for row in cluster.rows() {
                table.row(row.into_iter().map(Cell::new).collect());
            }
        }
        let unknown: String = self
            .clusters
            .iter()
            .flat_map(|c| {
                c.releases.iter().filter_map(move |n| {
                    n.unknown.as_ref().map(|why| format!("{} {}: {why}\n", c.name, n.ami))
                })
            })
            .collect();
        format!("{}\n{unknown}{} AWS requests.\n", draw.table(&table), self.api_calls)
    }
}

impl ClusterState {
    /// The cluster's rows of the table: one per release, the cluster named on the first.
    fn rows(&self) -> Vec<Vec<String>> {
        let name = match &self.account {
            Some(account) => format!("{}\naccount {account}", self.name),
            None => self.name.clone(),
        };
        let kubernetes = self.control_plane.as_ref().map_or("-".to_string(), |p| {
            let ends = match p.support {
                Support::Standard => p.end_of_standard_support.as_deref(),
                _ => p.end_of_extended_support.as_deref(),
            };
            format!(
                "{} ({}{})",
                p.version,
                p.support.label(),
                ends.map(|d| format!(" until {d}")).unwrap_or_default()
            )
        });
        if self.releases.is_empty() {
            let none = "(nothing runs or was published)".to_string();
            return vec![vec![name, kubernetes, none, "-".into(), "-".into(), "-".into(), "-".into()]];
        }
        self.releases
            .iter()
            .enumerate()
            .map(|(n, node)| {
                let skew = node
                    .skew
                    .filter(|s| *s != 0)
                    .map(|s| format!("\nnodes {} ({s:+} minor)", node.kubernetes.as_deref().unwrap_or("?")))
                    .unwrap_or_default();
                vec![
                    if n == 0 { name.clone() } else { String::new() },
                    if n == 0 { format!("{kubernetes}{skew}") } else { skew.trim_start().to_string() },
                    format!("{}\n{}", node.release.as_deref().unwrap_or("?"), node.ami),
                    node.on().to_string(),
                    base_text(&node.base),
                    base_text(&node.recommended),
                    node.behind_text(),
                ]
            })
            .collect()
    }
}

impl Node {
    fn on(&self) -> &'static str {
        match (self.running, self.published) {
            (true, true) => "runs, published",
            (true, false) => "runs",
            (false, _) => "published, not seen running",
        }
    }

    fn behind_text(&self) -> String {
        match (self.newer_base, self.behind_days) {
            (Some(false), _) => "current".to_string(),
            (Some(true), Some(days)) => format!("{days} days"),
            (Some(true), None) => "newer base".to_string(),
            (None, _) => "?".to_string(),
        }
    }
}

fn base_text(base: &Option<BaseState>) -> String {
    base.as_ref().map_or("?".to_string(), |b| {
        let deprecated = if b.deprecated { ", deprecated" } else { "" };
        format!(
            "{}\n{}{deprecated}",
            b.release_version.as_deref().or(b.name.as_deref()).unwrap_or("?"),
            b.ami
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    const NOW: i64 = 1_796_164_800;

    fn built_on(base: &str) -> Image {
        let mut ami = image("ami-0000000a", "2026-11-02T00:00:00.000Z", &[]);
        for (key, value) in [
            (tags::BASE_AMI, base),
            (tags::FAMILY, "al2023"),
            (tags::KUBERNETES, "1.29"),
            (tags::BASE_RELEASE, "1.29.15-20261001"),
        ] {
            ami.tags.insert(key.into(), value.into());
        }
        ami
    }

    fn node(running: bool) -> Node {
        Node::new("ami-0000000a".into(), running, true)
    }

    fn recommended(id: &str, created: &str) -> Base {
        Base {
            parameter: None,
            image: image(id, created, &[]),
            release_version: Some("1.29.15-20261101".into()),
        }
    }

    #[test]
    fn a_newer_recommended_base_is_measured_in_days_between_the_bases() {
        let old = image("ami-000000b1", "2026-10-01T00:00:00.000Z", &[]);
        let new = recommended("ami-000000b2", "2026-11-01T00:00:00.000Z");
        let mut n = node(true);
        assess(&mut n, &built_on("ami-000000b1"), &[old], Ok(&new), Some("1.31"), NOW);
        assert_eq!((n.newer_base, n.behind_days, n.skew), (Some(true), Some(31), Some(2)));
        assert_eq!(n.base.as_ref().and_then(|b| b.release_version.as_deref()), Some("1.29.15-20261001"));
        assert!(n.behind(Duration::ZERO) && n.behind(Duration::from_secs(30 * 86_400)));
        assert!(!n.behind(Duration::from_secs(31 * 86_400)), "31 days is not more than 31 days");

        let mut current = node(true);
        assess(&mut current, &built_on("ami-000000b2"), &[], Ok(&new), None, NOW);
        assert_eq!((current.newer_base, current.behind_days), (Some(false), Some(0)));
        assert!(!current.behind(Duration::ZERO));
    }

    #[test]
    fn what_cannot_be_compared_says_why_and_is_never_behind() {
        let mut untagged = node(true);
        let mut plain = image("ami-0000000a", "2026-11-02T00:00:00.000Z", &[]);
        assert!(query(&plain).unwrap_err().contains("records no EKS-optimized base"));
        plain.tags.insert(tags::FAMILY.into(), "al2023".into());
        plain.tags.insert(tags::KUBERNETES.into(), "1.29".into());
        assess(
            &mut untagged,
            &plain,
            &[],
            Ok(&recommended("ami-000000b2", "2026-11-01T00:00:00.000Z")),
            None,
            NOW,
        );
        assert!(untagged.unknown.as_deref().unwrap().contains("adopt ami-0000000a --base"));
        assert!(!untagged.behind(Duration::ZERO));
    }

    #[test]
    fn clusters_are_judged_by_what_they_run_else_by_what_was_published() {
        let cluster = |releases: Vec<Node>| ClusterState {
            name: "prod".into(),
            account: None,
            region: "eu-west-1".into(),
            control_plane: None,
            releases,
        };
        let behind = |running: bool| Node { newer_base: Some(true), behind_days: Some(40), ..node(running) };
        let current = |running: bool| Node { newer_base: Some(false), behind_days: Some(0), ..node(running) };
        let report = |c: ClusterState| Outdated {
            clusters: vec![c],
            amis: Vec::new(),
            api_calls: 0,
            warnings: Vec::new(),
        };
        assert!(
            report(cluster(vec![current(true), behind(false)])).behind(Duration::ZERO).is_empty(),
            "a stale publication does not count when nodes run a current one"
        );
        assert_eq!(report(cluster(vec![behind(false)])).behind(Duration::ZERO), ["prod"]);
        assert!(report(cluster(vec![behind(true)])).behind(Duration::from_secs(60 * 86_400)).is_empty());
    }
}
