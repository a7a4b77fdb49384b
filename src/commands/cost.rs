//! What the releases cost to keep: snapshot storage per release and in total, the snapshots no
//! AMI references (billed for nothing), and the AMIs no cluster runs (candidates for `wipe`).
//! Full volume sizes bound the bill from above; `--exact` counts the blocks EBS bills.

use super::line::OrgArgs;
use super::{parse_all, reach, Context};
use crate::aws::clusters::Observed;
use crate::aws::inventory::{self, Image, Snapshot};
use crate::aws::locks::{self, Lock};
use crate::aws::org::Org;
use crate::aws::orphans::find_orphans;
use crate::aws::Aws;
use crate::aws::LOOKUP_CONCURRENCY;
use crate::core::iam::optional;
use crate::core::ids::AmiId;
use crate::core::show::{Cell, Draw, Table, Text};
use crate::error::Result;
use crate::spec::clusters as configured;
use crate::spec::clusters::Cluster;
use crate::transfer::billing::{self, Billed};
use futures::stream::{self, StreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// USD per GiB-month of snapshot storage.
    #[arg(long, default_value_t = DEFAULT_PRICE_PER_GIB_MONTH)]
    pub price: f64,

    #[command(flatten)]
    pub org: OrgArgs,

    /// Count the blocks EBS bills each snapshot for (its changes since the previous snapshot of
    /// its lineage, or all its blocks for the first) through the EBS direct APIs: one request
    /// per snapshot and per 10,000 blocks, themselves billed. Without it, full volume sizes
    /// bound the bill from above.
    #[arg(long)]
    pub exact: bool,

    /// Only these AMIs (ami-…) and the snapshots behind them; without any, every AMI.
    #[arg(value_name = "AMI_ID")]
    pub amis: Vec<String>,

    /// Only the AMIs of this release (a release set's every variant) and their snapshots.
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
}

/// What a cost report counts: every AMI and snapshot, or only some AMIs (named, or of a
/// release) and the snapshots behind them (no orphan is theirs).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub amis: Vec<AmiId>,
    pub release: Option<String>,
}

impl Scope {
    fn everything(&self) -> bool {
        self.amis.is_empty() && self.release.is_none()
    }

    /// The AMIs in scope and the snapshots they map; all of both for everything. Pure.
    pub fn narrow(&self, images: Vec<Image>, snapshots: Vec<Snapshot>) -> (Vec<Image>, Vec<Snapshot>) {
        if self.everything() {
            return (images, snapshots);
        }
        let images: Vec<Image> = images
            .into_iter()
            .filter(|i| {
                self.amis.iter().any(|a| i.id == a.as_str())
                    || (self.release.is_some() && i.release() == self.release.as_deref())
            })
            .collect();
        let mapped: HashSet<&str> = images.iter().flat_map(Image::snapshot_ids).collect();
        let snapshots = snapshots.into_iter().filter(|s| mapped.contains(s.id.as_str())).collect();
        (images, snapshots)
    }
}

/// What `--output json` prints: one account's cost, or with `[accounts]` every account's.
pub type Report = super::Either<Cost, Costs>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy cost`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    &optional(crate::transfer::billing::IAM, "billed blocks"),
    &optional(crate::aws::clusters::IAM, "which clusters run each release"),
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::aws::inventory::DESCRIBE_SNAPSHOTS,
        crate::aws::locks::IAM.optional("snapshot locks check"),
    ],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let scope = Scope { amis: parse_all(&args.amis)?, release: args.release };
    let spec = reach::optional_spec(&args.org.spec)?;
    let org = reach::reach(&ctx.options, spec.as_ref(), &args.org, &ctx.regions).await?;
    let clusters = configured::select(spec.as_ref(), &[], org.places[0].aws.region());
    if org.configured() {
        let costs = gather_all(&org, &clusters, args.price, args.exact, &scope).await?;
        ctx.ui.warn(&costs.warnings);
        Ok(ctx.ui.show(&costs)?)
    } else {
        let cost = gather(&org, &clusters, args.price, args.exact, &scope).await?;
        ctx.ui.warn(&cost.warnings);
        Ok(ctx.ui.show(&cost)?)
    }
}

/// EBS snapshot storage, standard tier: the list price of US East (N. Virginia), as of most
/// regions (USD per GB-month, https://aws.amazon.com/ebs/pricing/).
pub const DEFAULT_PRICE_PER_GIB_MONTH: f64 = 0.05;
/// The archive tier, a quarter of the standard price: the list price of US East (N. Virginia)
/// (USD per GB-month, https://aws.amazon.com/ebs/pricing/). Archived snapshots are full
/// snapshots, and billed at least 90 days.
pub const ARCHIVE_PRICE_PER_GIB_MONTH: f64 = 0.0125;
pub const UPPER_BOUND_NOTE: &str = "EBS bills snapshots by the blocks they changed since the previous snapshot of the \
     same volume, so the sizes here (full volume sizes) are an upper bound of the bill; --exact counts those blocks.";
pub const EXACT_NOTE: &str =
    "Billed GiB count the blocks EBS bills each snapshot for: those changed since the previous \
     snapshot of its lineage, or all it holds for the first one. GiB are full volume sizes.";

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Cost {
    pub region: String,
    pub price_per_gib_month: f64,
    pub note: &'static str,
    /// Largest first.
    pub releases: Vec<ReleaseCost>,
    pub orphans: Vec<OrphanCost>,
    /// AMIs none of the clusters runs; `None` when no cluster is configured in this region, or
    /// when what one of them runs could not be read (see `warnings`): then nobody can tell.
    pub unused_amis: Option<Vec<String>>,
    pub total_gib: i64,
    pub total_usd_per_month: f64,
    /// The snapshots in the standard tier, and in the archive tier (`gio-ami archive`).
    pub standard_gib: i64,
    pub archive_gib: i64,
    pub archive_price_per_gib_month: f64,
    /// The snapshots under a lock (LockSnapshot): kept whatever a plan says. `None` when the
    /// locks could not be read (see `warnings`).
    pub locked_gib: Option<i64>,
    /// What archiving the releases no cluster runs would save a month (negative: what it would
    /// add): the sum of `archiving`. `None` when which AMIs are unused is unknown.
    pub archiving_unused_saves_usd_per_month: Option<f64>,
    /// Each snapshot of those releases that no running AMI maps, and what archiving it does to
    /// the bill.
    pub archiving: Vec<Archiving>,
    pub orphan_gib: i64,
    /// The blocks EBS bills, with --exact.
    pub exact: Option<Exact>,
    /// What the report could not tell: one per cluster whose look-up failed, one per snapshot
    /// whose blocks could not be counted.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Exact {
    /// Over the snapshots counted; those that could not be are in the warnings.
    pub billed_gib: f64,
    pub billed_usd_per_month: f64,
    /// EBS direct requests the count took (ListSnapshotBlocks and ListChangedBlocks pages,
    /// billed per request themselves).
    pub requests: usize,
    pub snapshots: Vec<Billed>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ReleaseCost {
    /// The release tag, or the AMI name of an AMI that is no release.
    pub release: String,
    pub amis: Vec<String>,
    pub snapshots: usize,
    pub gib: i64,
    pub usd_per_month: f64,
    /// With --exact: the GiB EBS bills for its snapshots; none when one could not be counted.
    pub billed_gib: Option<f64>,
}

/// What archiving one snapshot does to the monthly bill. The archive tier bills the full
/// snapshot (every block it holds); the standard tier stops billing only the blocks the snapshot
/// added, and not even those while a later snapshot of its lineage still references them: "If you
/// archive a snapshot that contains data that is referenced by a later snapshot in the lineage,
/// the data storage and storage costs associated with the referenced data are allocated to the
/// later snapshot [...] archiving the snapshot will not reduce data storage or storage costs"
/// (https://docs.aws.amazon.com/ebs/latest/userguide/archiving-guidelines.html). So archiving a
/// small increment of a large disk, or a parent of a snapshot that stays, costs more.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Archiving {
    pub snapshot: String,
    /// What the archive tier bills: every block it holds (without --exact: its volume size).
    pub archived_gib: f64,
    /// What the standard tier stops billing: the blocks it added (without --exact: its volume
    /// size), none while `referenced_by` stays in the standard tier.
    pub freed_gib: f64,
    /// A later snapshot of its lineage that stays in the standard tier, and so keeps its blocks
    /// billed there.
    pub referenced_by: Option<String>,
    /// Negative: archiving it adds that much to the bill.
    pub saves_usd_per_month: f64,
}

impl Archiving {
    /// The arithmetic: what the standard tier stops billing at `price`, less what the archive
    /// tier starts billing. Pure.
    pub fn of(
        snapshot: &str,
        held_gib: f64,
        added_gib: f64,
        referenced_by: Option<&str>,
        price: f64,
    ) -> Archiving {
        let freed_gib = if referenced_by.is_some() { 0.0 } else { added_gib };
        Archiving {
            snapshot: snapshot.to_string(),
            archived_gib: held_gib,
            freed_gib,
            referenced_by: referenced_by.map(str::to_string),
            saves_usd_per_month: freed_gib * price - held_gib * ARCHIVE_PRICE_PER_GIB_MONTH,
        }
    }

    /// Why archiving it costs more, in one clause; none when it saves.
    pub fn loss(&self) -> Option<String> {
        (self.saves_usd_per_month < 0.0).then(|| match &self.referenced_by {
            Some(later) => format!(
                "archiving {} would add {:.2} USD/month: {later}, a later snapshot of its lineage, still references its \
                 blocks in the standard tier, and the archive tier bills all {:.2} GiB of it again",
                self.snapshot, -self.saves_usd_per_month, self.archived_gib
            ),
            None => format!(
                "archiving {} would add {:.2} USD/month: it adds only {:.2} GiB to its lineage, and the archive tier bills \
                 all {:.2} GiB it holds",
                self.snapshot, -self.saves_usd_per_month, self.freed_gib, self.archived_gib
            ),
        })
    }
}

/// The snapshots of AMIs none of `running` is, that no running AMI maps and that are still in
/// the standard tier: what archiving the unused releases would move. Pure.
pub fn archive_candidates<'a>(
    images: &'a [Image],
    snapshots: &[Snapshot],
    running: &HashSet<String>,
) -> HashSet<&'a str> {
    let kept: HashSet<&str> =
        images.iter().filter(|i| running.contains(i.id.as_str())).flat_map(Image::snapshot_ids).collect();
    let standard: HashSet<&str> = snapshots.iter().filter(|s| !s.archived).map(|s| s.id.as_str()).collect();
    images
        .iter()
        .filter(|i| !running.contains(i.id.as_str()))
        .flat_map(Image::snapshot_ids)
        .filter(|s| !kept.contains(s) && standard.contains(s))
        .collect()
}

/// A later snapshot of `snapshot`'s lineage that stays in the standard tier once `leaving` are
/// archived (children are read from `previous`, child -> parent), the nearest first. Pure.
fn referenced_later<'a>(
    snapshot: &str,
    previous: &'a HashMap<String, String>,
    leaving: &HashSet<&str>,
    archived: &HashSet<&str>,
) -> Option<&'a str> {
    let mut queue: Vec<&str> = vec![snapshot];
    let mut seen: HashSet<&str> = HashSet::new();
    while !queue.is_empty() {
        let mut children: Vec<&'a str> = previous
            .iter()
            .filter(|(_, parent)| queue.contains(&parent.as_str()))
            .map(|(child, _)| child.as_str())
            .filter(|c| seen.insert(c))
            .collect();
        children.sort_unstable();
        if let Some(stays) = children.iter().find(|c| !leaving.contains(*c) && !archived.contains(*c)) {
            return Some(stays);
        }
        queue = children;
    }
    None
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OrphanCost {
    pub snapshot: String,
    pub gib: i64,
    pub usd_per_month: f64,
    pub billed_gib: Option<f64>,
}

/// Pure: the bill from a listing, and the blocks of each snapshot counted. A snapshot shared
/// by several AMIs of one release (disk chains share their parent's) counts once in it; the
/// total counts every snapshot once.
pub fn report(
    region: &str,
    images: &[Image],
    snapshots: Vec<Snapshot>,
    running: Option<&HashSet<String>>,
    price: f64,
    counted: Option<&HashMap<String, Billed>>,
) -> Cost {
    let size: HashMap<&str, i64> = snapshots.iter().map(|s| (s.id.as_str(), i64::from(s.size_gib))).collect();
    let usd = |gib: i64| gib as f64 * price;
    let billed_sum = |ids: &mut dyn Iterator<Item = &str>| {
        counted.and_then(|b| ids.map(|id| b.get(id).map(|b| b.gib)).sum::<Option<f64>>())
    };
    let mut groups: BTreeMap<&str, (Vec<String>, HashSet<&str>)> = BTreeMap::new();
    for image in images {
        let (amis, snapshot_ids) = groups.entry(image.release().unwrap_or(&image.name)).or_default();
        amis.push(image.id.to_string());
        snapshot_ids.extend(image.snapshot_ids().filter(|id| size.contains_key(id)));
    }
    let mut releases: Vec<ReleaseCost> = groups
        .into_iter()
        .map(|(release, (amis, snapshot_ids))| {
            let gib = snapshot_ids.iter().map(|id| size[id]).sum();
            let billed_gib = billed_sum(&mut snapshot_ids.iter().copied());
            ReleaseCost {
                release: release.to_string(),
                amis,
                snapshots: snapshot_ids.len(),
                gib,
                usd_per_month: usd(gib),
                billed_gib,
            }
        })
        .collect();
    releases.sort_by(|a, b| b.gib.cmp(&a.gib).then_with(|| a.release.cmp(&b.release)));
    let total_gib: i64 = size.values().sum();
    let archive_gib: i64 = snapshots.iter().filter(|s| s.archived).map(|s| i64::from(s.size_gib)).sum();
    let archiving: Vec<Archiving> = running.map_or_else(Vec::new, |running| {
        let leaving = archive_candidates(images, &snapshots, running);
        let archived: HashSet<&str> =
            snapshots.iter().filter(|s| s.archived).map(|s| s.id.as_str()).collect();
        let previous = billing::previous(&snapshots, images);
        let mut leaving_sorted: Vec<&str> = leaving.iter().copied().collect();
        leaving_sorted.sort_unstable();
        leaving_sorted
            .into_iter()
            .map(|id| {
                // Without counted blocks, the volume size bounds both from above.
                let full = size[id] as f64;
                let counted = counted.and_then(|c| c.get(id));
                let added = counted.map_or(full, |b| b.gib);
                let held = counted.and_then(|b| b.held_gib).unwrap_or(full);
                Archiving::of(id, held, added, referenced_later(id, &previous, &leaving, &archived), price)
            })
            .collect()
    });
    let saves = running.map(|_| archiving.iter().map(|a| a.saves_usd_per_month).sum());
    let standard_gib = total_gib - archive_gib;
    let orphans: Vec<OrphanCost> = find_orphans(images, snapshots)
        .into_iter()
        .map(|o| {
            let gib = i64::from(o.snapshot.size_gib);
            let billed_gib = billed_sum(&mut std::iter::once(o.snapshot.id.as_str()));
            OrphanCost { snapshot: o.snapshot.id.to_string(), gib, usd_per_month: usd(gib), billed_gib }
        })
        .collect();
    Cost {
        region: region.to_string(),
        price_per_gib_month: price,
        note: if counted.is_some() { EXACT_NOTE } else { UPPER_BOUND_NOTE },
        unused_amis: running.map(|running| {
            images.iter().filter(|i| !running.contains(i.id.as_str())).map(|i| i.id.to_string()).collect()
        }),
        orphan_gib: orphans.iter().map(|o| o.gib).sum(),
        releases,
        orphans,
        total_gib,
        total_usd_per_month: usd(standard_gib) + archive_gib as f64 * ARCHIVE_PRICE_PER_GIB_MONTH,
        standard_gib,
        archive_gib,
        archive_price_per_gib_month: ARCHIVE_PRICE_PER_GIB_MONTH,
        locked_gib: None,
        archiving_unused_saves_usd_per_month: saves,
        archiving,
        exact: None,
        warnings: Vec::new(),
    }
}

/// One listing of AMIs, one of snapshots, and the usage of the clusters of this region; with
/// `exact`, the blocks of every snapshot counted through the EBS direct APIs.
/// The caller's account in its region; what the clusters there run tells which AMIs are unused.
pub async fn gather(org: &Org, clusters: &[Cluster], price: f64, exact: bool, scope: &Scope) -> Result<Cost> {
    let place = &org.places[0];
    let here: Vec<(&str, Option<&str>, &str)> = clusters
        .iter()
        .filter(|c| c.region == place.aws.region())
        .map(|c| (c.name.as_str(), None, c.region.as_str()))
        .collect();
    let observed = if here.is_empty() { None } else { Some(org.observe(&here).await) };
    let mut cost = of_place(&place.aws, running(observed.as_ref()).as_ref(), price, exact, scope).await?;
    cost.warnings.splice(0..0, unread(observed.as_ref()));
    Ok(cost)
}

/// Every AMI the clusters run; `None` when nobody can tell (no cluster, or one unread: an AMI
/// the readable clusters do not run may still run in the unread one).
fn running(observed: Option<&Observed>) -> Option<HashSet<String>> {
    observed.filter(|o| o.unread.is_empty()).map(|o| o.running.values().flatten().cloned().collect())
}

fn unread(observed: Option<&Observed>) -> Vec<String> {
    observed.map(|o| o.warnings("which AMIs are unused is unknown")).unwrap_or_default()
}

/// Every configured account × region. What the clusters run is read once, each cluster in its
/// own account, because an AMI of one account may run in another's cluster. A place that
/// fails is a warning; the totals are of the places read.
pub async fn gather_all(
    org: &Org,
    clusters: &[Cluster],
    price: f64,
    exact: bool,
    scope: &Scope,
) -> Result<Costs> {
    let seats: Vec<(&str, Option<&str>, &str)> =
        clusters.iter().map(|c| (c.name.as_str(), c.account.as_deref(), c.region.as_str())).collect();
    let observed = if seats.is_empty() { None } else { Some(org.observe(&seats).await) };
    let running = running(observed.as_ref());
    let read = org
        .rows(|place| async { Ok(vec![of_place(&place.aws, running.as_ref(), price, exact, scope).await?]) })
        .await?;
    let mut warnings = unread(observed.as_ref());
    warnings.extend(read.warnings);
    let accounts: Vec<AccountCost> = read
        .rows
        .into_iter()
        .map(|located| AccountCost { account: located.account.unwrap_or_default(), cost: located.item })
        .collect();
    for cost in &accounts {
        warnings.extend(
            cost.cost
                .warnings
                .iter()
                .map(|w| format!("account `{}` in {}: {w}", cost.account, cost.cost.region)),
        );
    }
    Ok(Costs {
        total_gib: accounts.iter().map(|a| a.cost.total_gib).sum(),
        total_usd_per_month: accounts.iter().map(|a| a.cost.total_usd_per_month).sum(),
        orphan_gib: accounts.iter().map(|a| a.cost.orphan_gib).sum(),
        accounts,
        warnings,
    })
}

/// The cost of every configured account × region.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Costs {
    pub accounts: Vec<AccountCost>,
    pub total_gib: i64,
    pub total_usd_per_month: f64,
    pub orphan_gib: i64,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccountCost {
    pub account: String,
    #[serde(flatten)]
    pub cost: Cost,
}

async fn of_place(
    aws: &Aws,
    running: Option<&HashSet<String>>,
    price: f64,
    exact: bool,
    scope: &Scope,
) -> Result<Cost> {
    let (images, snapshots) = futures::try_join!(inventory::own_images(aws), inventory::own_snapshots(aws))?;
    // A snapshot's lineage is read from every snapshot; only those in scope are counted.
    let lineage = if exact { billing::previous(&snapshots, &images) } else { HashMap::new() };
    let (images, snapshots) = scope.narrow(images, snapshots);
    let sizes: HashMap<String, i32> = snapshots.iter().map(|s| (s.id.to_string(), s.size_gib)).collect();
    let candidates: HashSet<String> = running
        .map(|r| archive_candidates(&images, &snapshots, r).into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let (counted, mut uncounted, requests) =
        if exact { count_blocks(aws, &snapshots, &lineage, &candidates).await } else { Default::default() };
    let billed: HashMap<String, Billed> = counted.iter().map(|b| (b.snapshot.clone(), b.clone())).collect();
    let mut cost = report(aws.region(), &images, snapshots, running, price, exact.then_some(&billed));
    if exact {
        let billed_gib: f64 = counted.iter().map(|b| b.gib).sum();
        cost.exact = Some(Exact {
            billed_gib,
            billed_usd_per_month: billed_gib * price,
            requests,
            snapshots: counted,
        });
    }
    cost.warnings.append(&mut uncounted);
    let ids: Vec<String> = sizes.keys().cloned().collect();
    match if ids.is_empty() { Ok(Vec::new()) } else { locks::of(aws, &ids).await } {
        Ok(locks) => cost.locked_gib = Some(locked_gib(&sizes, &locks)),
        Err(e) => cost.warnings.push(format!("snapshot locks could not be read ({e}): locked GiB unknown")),
    }
    Ok(cost)
}

/// The GiB under a lock, each snapshot once.
pub fn locked_gib(sizes: &HashMap<String, i32>, locks: &[Lock]) -> i64 {
    let locked: HashSet<&str> = locks.iter().map(|l| l.snapshot.as_str()).collect();
    locked.iter().filter_map(|s| sizes.get(*s)).map(|g| i64::from(*g)).sum()
}

/// Counts what each snapshot is billed for, and all its blocks for the archive `candidates`; a
/// snapshot that cannot be counted is a warning, and `?` in the report. Also returns the
/// requests the count took.
async fn count_blocks(
    aws: &Aws,
    snapshots: &[Snapshot],
    previous: &HashMap<String, String>,
    candidates: &HashSet<String>,
) -> (Vec<Billed>, Vec<String>, usize) {
    let before = aws.calls();
    let results: Vec<_> = stream::iter(snapshots)
        .map(|s| {
            let id = s.id.as_str();
            billing::count(aws, id, previous.get(id).map(String::as_str), candidates.contains(id))
        })
        .buffered(LOOKUP_CONCURRENCY)
        .collect()
        .await;
    let (mut counted, mut uncounted) = (Vec::new(), Vec::new());
    for (snapshot, result) in snapshots.iter().zip(results) {
        match result {
            Ok(billed) => counted.push(billed),
            Err(e) => uncounted.push(format!("{}: its billed size is unknown ({e})", snapshot.id)),
        }
    }
    (counted, uncounted, aws.calls() - before)
}

fn money(usd: f64) -> String {
    format!("{usd:.2}")
}

impl Text for Cost {
    fn text(&self, draw: &dyn Draw) -> String {
        let mut headers = vec!["RELEASE", "AMIS", "SNAPSHOTS", "GiB", "USD/MONTH"];
        if self.exact.is_some() {
            headers.extend(["BILLED GiB", "BILLED USD/MONTH"]);
        }
        let mut table = Table::new(&headers);
        for r in &self.releases {
            let mut row = vec![
                Cell::new(&r.release),
                Cell::new(r.amis.join("\n")),
                Cell::number(r.snapshots),
                Cell::number(r.gib),
                Cell::number(money(r.usd_per_month)),
            ];
            if self.exact.is_some() {
                row.push(Cell::number(r.billed_gib.map_or("?".into(), |gib| format!("{gib:.3}"))));
                row.push(Cell::number(
                    r.billed_gib.map_or("?".into(), |gib| money(gib * self.price_per_gib_month)),
                ));
            }
            table.row(row);
        }
        format!(
            "{}\nTotal in {}: {} GiB, {} USD/month.\n{}\
             Orphan snapshots (no AMI references them): {}, {} GiB, {} USD/month.\n{}\
             Note: {}\n",
            draw.table(&table),
            self.region,
            self.total_gib,
            money(self.total_usd_per_month),
            self.details(),
            self.orphans.len(),
            self.orphan_gib,
            money(self.orphan_gib as f64 * self.price_per_gib_month),
            self.unused_text(),
            self.note
        )
    }
}

impl Cost {
    /// The tiers, the locked GiB, the billed blocks and what archiving would save, one line each.
    fn details(&self) -> String {
        let tiers = format!(
            "Standard tier: {} GiB at {} USD per GiB-month; archive tier: {} GiB, {} USD/month at {}.\n",
            self.standard_gib,
            self.price_per_gib_month,
            self.archive_gib,
            money(self.archive_gib as f64 * self.archive_price_per_gib_month),
            self.archive_price_per_gib_month
        );
        let locked =
            self.locked_gib.map_or("Locked snapshots: unknown (see the warnings).\n".to_string(), |gib| {
                format!("Locked snapshots (LockSnapshot; no plan deletes them): {gib} GiB.\n")
            });
        let exact = self.exact.as_ref().map_or(String::new(), |exact| {
            format!(
                "Billed (blocks EBS counts): {:.3} GiB, {} USD/month, over {} snapshots; counting took {} EBS direct requests.\n",
                exact.billed_gib,
                money(exact.billed_usd_per_month),
                exact.snapshots.len(),
                exact.requests
            )
        });
        let saves = self.archiving_unused_saves_usd_per_month.map_or(String::new(), |usd| {
            let net = match usd < 0.0 {
                true => format!("would cost {} USD/month more", money(-usd)),
                false => format!("would save {} USD/month", money(usd)),
            };
            let losses: String =
                self.archiving.iter().filter_map(|a| a.loss()).map(|l| format!("  {l}\n")).collect();
            format!("Archiving the releases no cluster runs (`gio-ami archive`) {net}.\n{losses}")
        });
        format!("{tiers}{locked}{exact}{saves}")
    }

    fn unused_text(&self) -> String {
        match &self.unused_amis {
            Some(amis) if amis.is_empty() => "Every AMI runs in a cluster.\n".to_string(),
            Some(amis) => format!("AMIs no cluster runs ({}): {}\n", amis.len(), amis.join(" ")),
            None if !self.warnings.is_empty() => {
                "Which AMIs are unused is unknown: what a cluster runs could not be read (see the warnings).\n".to_string()
            }
            None => "No cluster of gio-ami.toml is in this region: cannot tell which AMIs are unused.\n".to_string(),
        }
    }
}

/// One row per configured account × region, and the totals.
impl Text for Costs {
    fn text(&self, draw: &dyn Draw) -> String {
        let mut table = Table::new(&[
            "ACCOUNT",
            "REGION",
            "RELEASES",
            "GiB",
            "USD/MONTH",
            "ORPHAN GiB",
            "UNUSED AMIS",
            "ARCHIVING SAVES",
        ]);
        for AccountCost { account, cost } in &self.accounts {
            table.row(vec![
                Cell::new(account),
                Cell::new(&cost.region),
                Cell::number(cost.releases.len()),
                Cell::number(cost.total_gib),
                Cell::number(money(cost.total_usd_per_month)),
                Cell::number(cost.orphan_gib),
                Cell::number(cost.unused_amis.as_ref().map_or("?".into(), |amis| amis.len().to_string())),
                Cell::number(cost.archiving_unused_saves_usd_per_month.map_or("?".into(), money)),
            ]);
        }
        format!(
            "{}\nTotal: {} GiB, {} USD/month; orphan snapshots {} GiB.\n",
            draw.table(&table),
            self.total_gib,
            money(self.total_usd_per_month),
            self.orphan_gib
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::{image, snapshot};
    use crate::core::tags;

    #[test]
    fn shared_snapshots_count_once_and_orphans_are_listed() {
        let mut parent = image("ami-0000000a", "1", &[("/dev/xvda", "snap-0000000a", 8)]);
        parent.tags.insert(tags::RELEASE.into(), "r1".into());
        let mut child = image(
            "ami-0000000b",
            "2",
            &[("/dev/xvda", "snap-0000000a", 8), ("/dev/xvdb", "snap-0000000b", 50)],
        );
        child.tags.insert(tags::RELEASE.into(), "r1".into());
        let other = image("ami-0000000c", "3", &[("/dev/xvda", "snap-0000000c", 10)]);
        let snapshots = vec![
            snapshot("snap-0000000a", 8),
            snapshot("snap-0000000b", 50),
            snapshot("snap-0000000c", 10),
            snapshot("snap-0000000d", 100),
        ];
        let running = HashSet::from(["ami-0000000b".to_string()]);
        let cost = report(
            "eu-west-1",
            &[parent.clone(), child.clone(), other.clone()],
            snapshots.clone(),
            Some(&running),
            0.05,
            None,
        );
        assert_eq!(
            cost.releases[0],
            ReleaseCost {
                release: "r1".into(),
                amis: vec!["ami-0000000a".into(), "ami-0000000b".into()],
                snapshots: 2,
                gib: 58,
                usd_per_month: 58.0 * 0.05,
                billed_gib: None
            }
        );
        assert_eq!(cost.releases[1].release, "name-of-ami-0000000c");
        assert_eq!((cost.total_gib, cost.orphan_gib), (168, 100));
        assert!((cost.total_usd_per_month - 8.4).abs() < 1e-9);
        assert_eq!(cost.orphans[0].snapshot, "snap-0000000d");
        assert_eq!(cost.unused_amis, Some(vec!["ami-0000000a".to_string(), "ami-0000000c".to_string()]));

        // Billed sizes add up per release; one snapshot not counted makes its release unknown.
        let counted = |id: &str, gib: f64| {
            let billed = Billed { snapshot: id.into(), previous: None, blocks: 0, gib, held_gib: Some(gib) };
            (id.to_string(), billed)
        };
        let billed = HashMap::from([
            counted("snap-0000000a", 1.5),
            counted("snap-0000000b", 0.5),
            counted("snap-0000000d", 2.0),
        ]);
        let exact =
            report("eu-west-1", &[parent, child, other], snapshots, Some(&running), 0.05, Some(&billed));
        assert_eq!(exact.releases[0].billed_gib, Some(2.0));
        assert_eq!(exact.releases[1].billed_gib, None, "snap-0000000c was not counted");
        assert_eq!(exact.orphans[0].billed_gib, Some(2.0));
        assert_eq!(exact.note, EXACT_NOTE);
    }

    #[test]
    fn tiers_are_priced_apart_and_archiving_what_no_cluster_runs_is_priced() {
        let running_image = image("ami-0000000a", "1", &[("/dev/xvda", "snap-0000000a", 10)]);
        // The unused release shares its root with the running one: only its data disk would go.
        let unused = image(
            "ami-0000000b",
            "2",
            &[("/dev/xvda", "snap-0000000a", 10), ("/dev/xvdb", "snap-0000000b", 100)],
        );
        let archived = Snapshot { archived: true, ..snapshot("snap-0000000c", 40) };
        let snapshots = vec![snapshot("snap-0000000a", 10), snapshot("snap-0000000b", 100), archived];
        let running = HashSet::from(["ami-0000000a".to_string()]);
        let cost = report("eu-west-1", &[running_image, unused], snapshots, Some(&running), 0.05, None);
        assert_eq!((cost.standard_gib, cost.archive_gib), (110, 40));
        assert!(
            (cost.total_usd_per_month - (110.0 * 0.05 + 40.0 * ARCHIVE_PRICE_PER_GIB_MONTH)).abs() < 1e-9
        );
        let saves = cost.archiving_unused_saves_usd_per_month.unwrap();
        assert!((saves - 100.0 * (0.05 - ARCHIVE_PRICE_PER_GIB_MONTH)).abs() < 1e-9, "{saves}");

        let sizes = HashMap::from([("snap-0000000a".to_string(), 10), ("snap-0000000b".to_string(), 100)]);
        let lock = |s: &str| Lock { snapshot: s.into(), mode: locks::Mode::Governance, until: None };
        assert_eq!(locked_gib(&sizes, &[lock("snap-0000000b"), lock("snap-0000000b")]), 100);
    }

    /// The guide's cases, at the list prices: the only snapshot of a volume saves; a small increment
    /// of a large disk, and a snapshot a later one still references, cost more archived.
    #[test]
    fn archiving_saves_what_the_standard_tier_stops_billing_less_the_full_copy() {
        let only = Archiving::of("snap-1", 10.0, 10.0, None, DEFAULT_PRICE_PER_GIB_MONTH);
        assert!((only.saves_usd_per_month - 10.0 * (0.05 - 0.0125)).abs() < 1e-9, "{only:?}");
        assert_eq!(only.loss(), None);

        let increment = Archiving::of("snap-2", 8.0, 1.0, None, DEFAULT_PRICE_PER_GIB_MONTH);
        assert!((increment.saves_usd_per_month - (1.0 * 0.05 - 8.0 * 0.0125)).abs() < 1e-9);
        assert!(increment.loss().unwrap().contains("adds only 1.00 GiB"), "{increment:?}");
        // Break-even: an increment of a quarter of the snapshot (the archive price is a quarter).
        let even = Archiving::of("snap-3", 8.0, 2.0, None, DEFAULT_PRICE_PER_GIB_MONTH);
        assert!(even.saves_usd_per_month.abs() < 1e-9 && even.loss().is_none());

        let parent = Archiving::of("snap-4", 8.0, 8.0, Some("snap-5"), DEFAULT_PRICE_PER_GIB_MONTH);
        assert_eq!(parent.freed_gib, 0.0, "the later snapshot keeps its blocks billed");
        assert!((parent.saves_usd_per_month + 8.0 * ARCHIVE_PRICE_PER_GIB_MONTH).abs() < 1e-9);
        assert!(parent.loss().unwrap().contains("snap-5, a later snapshot of its lineage"), "{parent:?}");
    }

    #[test]
    fn a_parent_whose_child_stays_is_a_loss_and_a_lineage_archived_whole_is_not() {
        let taken = |id: &str, started: &str| Snapshot {
            volume_id: Some("vol-0000000a".into()),
            started: Some(crate::aws::inventory::tests::time(started)),
            ..snapshot(id, 8)
        };
        let snapshots = vec![taken("snap-0000000a", "2026-01-01"), taken("snap-0000000b", "2026-01-02")];
        let old = image("ami-0000000a", "1", &[("/dev/xvda", "snap-0000000a", 8)]);
        let new = image("ami-0000000b", "2", &[("/dev/xvda", "snap-0000000b", 8)]);
        let images = [old, new];
        let running = HashSet::from(["ami-0000000b".to_string()]);
        let cost = report("eu-west-1", &images, snapshots.clone(), Some(&running), 0.05, None);
        assert_eq!(cost.archiving.len(), 1);
        assert_eq!(cost.archiving[0].referenced_by.as_deref(), Some("snap-0000000b"));
        assert!(cost.archiving_unused_saves_usd_per_month.unwrap() < 0.0, "{:?}", cost.archiving);

        // Neither runs: both go, and nothing of the lineage stays to reference the parent.
        let none = report("eu-west-1", &images, snapshots, Some(&HashSet::new()), 0.05, None);
        assert!(none.archiving.iter().all(|a| a.referenced_by.is_none()), "{:?}", none.archiving);
    }

    #[test]
    fn without_clusters_nobody_claims_an_ami_is_unused() {
        let cost = report("eu-west-1", &[image("ami-0000000a", "1", &[])], Vec::new(), None, 0.05, None);
        assert_eq!(cost.unused_amis, None);
    }
}
