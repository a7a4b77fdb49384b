//! The release history teams used to keep by hand (one row per AMI release, one column per
//! cluster, date, author, contact, description, region, AMI id), rebuilt from AWS on every run:
//! releases from their `gio-ami:*` tags, cluster columns from what the clusters run now (●) and
//! where a release was published before (○, the `gio-ami:clusters` tag).

use super::line::{HistoryFormat, OrgArgs};
use super::{reach, Context};
use crate::aws::clusters::{self, Observed};
use crate::aws::inventory::{self, Image, Protection};
use crate::aws::org::Org;
use crate::core::clock::Timestamp;
use crate::core::iam::optional;
use crate::core::kinds::Member;
use crate::core::show::{Cell, Draw, Table, Text};
use crate::core::tags;
use crate::error::{Error, Result};
use crate::spec::clusters as configured;
use crate::spec::clusters::Cluster;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
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

/// What `--output json` prints: the history, or with `--update` what was written.
pub type Report = super::Either<Formatted, Updated>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy history`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    &optional(crate::aws::clusters::IAM, "which clusters run each release"),
    &[crate::aws::inventory::DESCRIBE_IMAGES],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let (spec, caller, accounts) = reach::configured(ctx, &args.org).await?;
    let clusters = configured::select(spec.as_ref(), &args.clusters, caller.region());
    let listed = regions(&ctx.regions, caller.region(), &clusters);
    let all: Vec<String> = listed.iter().cloned().chain(clusters.iter().map(|c| c.region.clone())).collect();
    let org = reach::enter(caller, &accounts, &all).await?;
    let history = gather(&org, &listed, clusters).await?;
    tracing::info!(api_calls = history.api_calls, releases = history.releases.len(), "history read");
    ctx.ui.warn(&history.warnings);
    match &args.update {
        Some(file) => {
            update_file(file, &history)?;
            let file = file.display().to_string();
            Ok(ctx.ui.show(&Updated {
                file,
                releases: history.releases.len(),
                api_calls: history.api_calls,
            })?)
        }
        None => Ok(ctx.ui.show(&Formatted { history, format: args.format })?),
    }
}

/// The history in the format `--format` asks for; `--output json` means JSON whatever it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Formatted {
    pub history: History,
    #[serde(skip)]
    pub format: HistoryFormat,
}

/// What `history --update FILE` did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Updated {
    pub file: String,
    pub releases: usize,
    pub api_calls: usize,
}

pub const BEGIN_MARKER: &str = "<!-- gio-ami:history:begin -->";
pub const END_MARKER: &str = "<!-- gio-ami:history:end -->";

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct History {
    /// Column order of the cluster cells.
    pub clusters: Vec<String>,
    /// Regions whose AMIs were read.
    pub regions: Vec<String>,
    /// The configured accounts read (`[accounts]`); empty for the caller's alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// Newest first.
    pub releases: Vec<Release>,
    /// HTTP requests the run made: grows with pages and clusters, not with releases.
    pub api_calls: usize,
    /// What the history could not tell: one per cluster whose look-up failed.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Release {
    pub release: String,
    pub name: String,
    /// `gio-ami:created-at`, else the AMI's creation date.
    pub date: Option<String>,
    pub author: Option<String>,
    pub contact: Option<String>,
    pub description: Option<String>,
    /// The release's AMI in each region (copies keep the release tag).
    pub amis: Vec<RegionalAmi>,
    /// A release set's AMIs, one per variant and region (`[[variants]]`); empty for one AMI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantAmi>,
    /// The AMI this one was derived from, for members of a disk chain.
    pub parent: Option<String>,
    /// Only the clusters with a mark; the others are absent.
    pub clusters: BTreeMap<String, Mark>,
    /// Deregistration protection is on for one of its AMIs (`gio-ami protect`).
    pub protected: bool,
    /// The latest launch from any of its AMIs, as EC2 records it: up to a day late.
    pub last_launched: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RegionalAmi {
    /// The `[accounts]` name that owns it; absent without `[accounts]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub region: String,
    pub id: String,
}

/// One AMI of a release set.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VariantAmi {
    #[serde(flatten)]
    pub member: Member,
    pub ami: String,
    /// The `[accounts]` name that owns it; absent without `[accounts]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub region: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// The cluster runs it now (observed).
    Running,
    /// It was published to the cluster earlier.
    Published,
    /// What the cluster runs could not be read: any release may run there.
    Unknown,
}

impl Mark {
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Running => "●",
            Mark::Published => "○",
            Mark::Unknown => "?",
        }
    }
}

/// The regions to read: those asked for, else the current one and every cluster's.
pub fn regions(asked: &[String], current: &str, clusters: &[Cluster]) -> Vec<String> {
    let mut regions: Vec<String> = Vec::new();
    let candidates: Box<dyn Iterator<Item = &str>> = if asked.is_empty() {
        Box::new(std::iter::once(current).chain(clusters.iter().map(|c| c.region.as_str())))
    } else {
        Box::new(asked.iter().map(String::as_str))
    };
    for region in candidates {
        if !regions.iter().any(|r| r == region) {
            regions.push(region.to_string());
        }
    }
    regions
}

/// Reads every place concurrently: one listing of the account's AMIs per place, plus the usage
/// of the clusters that live there. Without `[accounts]` the places are the caller's account in
/// `listed` and the clusters' regions, and only `listed` is listed; with it, every configured
/// account × region is, and one that fails is a warning (its rows missing, its clusters `?`).
pub async fn gather(org: &Org, listed: &[String], clusters: Vec<Cluster>) -> Result<History> {
    let configured = org.configured();
    let read = org
        .each(|place| {
            let region = place.aws.region();
            let list = configured || listed.iter().any(|r| r == region);
            let here: Vec<&str> = clusters
                .iter()
                .filter(|c| c.account == place.account && c.region == region)
                .map(|c| c.name.as_str())
                .collect();
            async move {
                let images = async {
                    if list {
                        inventory::own_images(&place.aws).await
                    } else {
                        Ok(Vec::new())
                    }
                };
                let (images, observed) = tokio::join!(images, clusters::running_amis(&place.aws, &here));
                Ok::<_, Error>((images, observed))
            }
        })
        .await;
    let mut listings = Vec::new();
    let mut observed = Observed::default();
    let mut warnings = org.warnings();
    for (place, read) in read {
        let (images, here) = read?;
        match images {
            Ok(images) => listings.push(Listing {
                account: place.account.clone(),
                region: place.aws.region().to_string(),
                images,
            }),
            Err(error) if !configured => return Err(error),
            Err(error) => {
                warnings.push(format!("{} was not read, its releases are missing: {error}", place.label()))
            }
        }
        observed.merge(here);
    }
    for cluster in &clusters {
        if let Some(why) = org.missing(cluster.account.as_deref(), &cluster.region) {
            observed.unread.insert(cluster.name.clone(), why);
        }
    }
    let mut regions: Vec<String> = Vec::new();
    for listing in &listings {
        if (configured || listed.contains(&listing.region)) && !regions.contains(&listing.region) {
            regions.push(listing.region.clone());
        }
    }
    // Places come account by account, so each name is once.
    let mut accounts: Vec<String> = org.places.iter().filter_map(|p| p.account.clone()).collect();
    accounts.dedup();
    let names: Vec<String> = clusters.into_iter().map(|c| c.name).collect();
    warnings.extend(observed.warnings(&format!("its cells show {}", Mark::Unknown.symbol())));
    Ok(History {
        releases: releases(&listings, &names, &observed),
        clusters: names,
        regions,
        accounts,
        api_calls: org.calls(),
        warnings,
    })
}

/// The AMIs one place holds.
#[derive(Debug, Clone)]
pub struct Listing {
    /// `None` without `[accounts]`.
    pub account: Option<String>,
    pub region: String,
    pub images: Vec<Image>,
}

/// One row per release (the AMIs of all regions that carry its tag), newest first. A cluster
/// whose look-up failed is unknown in every row: a publication tag says where a release was,
/// not whether it still runs there.
pub fn releases(listings: &[Listing], clusters: &[String], observed: &Observed) -> Vec<Release> {
    let mut rows: BTreeMap<&str, Release> = BTreeMap::new();
    for listing in listings {
        for image in &listing.images {
            let Some(name) = image.release() else { continue };
            let row = rows.entry(name).or_insert_with(|| new_row(name, image));
            row.amis.push(RegionalAmi {
                account: listing.account.clone(),
                region: listing.region.clone(),
                id: image.id.to_string(),
            });
            if let Some(member) = image.member() {
                let ami = image.id.to_string();
                let (account, region) = (listing.account.clone(), listing.region.clone());
                row.variants.push(VariantAmi { member, ami, account, region });
            }
            row.protected |= image.protection != Protection::Disabled;
            row.last_launched = row.last_launched.take().max(image.last_launched.clone());
            for cluster in clusters {
                let mark = if observed.unread.contains_key(cluster) {
                    Some(Mark::Unknown)
                } else if observed.running.get(cluster).is_some_and(|amis| amis.contains(image.id.as_str())) {
                    Some(Mark::Running)
                } else if image.published_to().any(|c| c == cluster) {
                    Some(Mark::Published)
                } else {
                    None
                };
                if let Some(mark) = mark {
                    let cell = row.clusters.entry(cluster.clone()).or_insert(mark);
                    if mark == Mark::Running {
                        *cell = mark;
                    }
                }
            }
        }
    }
    let mut releases: Vec<Release> = rows.into_values().collect();
    for release in &mut releases {
        release.variants.sort_by(|a, b| (a.member, &a.region).cmp(&(b.member, &b.region)));
    }
    releases.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.release.cmp(&b.release)));
    releases
}

fn new_row(release: &str, image: &Image) -> Release {
    let tag = |key: &str| image.tags.get(key).cloned();
    Release {
        release: release.to_string(),
        // A set's AMIs are named by variant; the row is the release.
        name: if image.member().is_some() { release.to_string() } else { image.name.clone() },
        date: tag(tags::CREATED_AT).or_else(|| image.created.as_ref().map(ToString::to_string)),
        author: tag(tags::AUTHOR),
        contact: tag(tags::CONTACT),
        description: tag(tags::DESCRIPTION).or_else(|| image.description.clone()),
        amis: Vec::new(),
        variants: Vec::new(),
        parent: tag(tags::PARENT_AMI),
        clusters: BTreeMap::new(),
        protected: false,
        last_launched: None,
    }
}

/// The column headers every format shares.
pub fn header(history: &History) -> Vec<String> {
    let mut header: Vec<String> = vec!["RELEASE".into()];
    header.extend(history.clusters.iter().cloned());
    header.extend(["DATE", "AUTHOR", "CONTACT", "DESCRIPTION"].map(String::from));
    if !history.accounts.is_empty() {
        header.push("ACCOUNT".into());
    }
    header.extend(["REGION", "AMI", "PARENT", "PROTECTED", "LAST LAUNCH"].map(String::from));
    header
}

/// One row's cells; a release present in several regions lists them on lines joined by
/// `line_break`, regions and ids in the same order.
pub fn cells(history: &History, release: &Release, line_break: &str) -> Vec<String> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let mut cells = vec![release.release.clone()];
    cells.extend(
        history
            .clusters
            .iter()
            .map(|c| release.clusters.get(c).map(|m| m.symbol()).unwrap_or_default().to_string()),
    );
    let lines =
        |field: fn(&RegionalAmi) -> &str| release.amis.iter().map(field).collect::<Vec<_>>().join(line_break);
    cells.extend([
        release.date.as_deref().map(day).unwrap_or_default(),
        text(&release.author),
        text(&release.contact),
        text(&release.description),
    ]);
    // A set's AMIs each on a line of their own, named by variant: no column more.
    let variants = |field: fn(&VariantAmi) -> String| {
        release.variants.iter().map(field).collect::<Vec<_>>().join(line_break)
    };
    let (accounts, regions, ids) = match release.variants.is_empty() {
        true => (lines(|a| a.account.as_deref().unwrap_or_default()), lines(|a| &a.region), lines(|a| &a.id)),
        false => (
            variants(|v| v.account.clone().unwrap_or_default()),
            variants(|v| v.region.clone()),
            variants(|v| format!("{} {}", v.member, v.ami)),
        ),
    };
    if !history.accounts.is_empty() {
        cells.push(accounts);
    }
    cells.extend([
        regions,
        ids,
        text(&release.parent),
        if release.protected { "yes".into() } else { String::new() },
        release.last_launched.as_ref().map(|t| day(t.as_str())).unwrap_or_default(),
    ]);
    cells
}

/// Dates to the day: what a release table needs, and stable across re-renders.
fn day(date: &str) -> String {
    date.chars().take(10).collect()
}

/// A GitHub-flavoured Markdown table with its legend.
pub fn markdown(history: &History) -> String {
    let escape = |cell: String| cell.replace('|', "\\|").replace('\n', " ");
    let header = header(history);
    let mut text = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for release in &history.releases {
        let cells: Vec<String> = cells(history, release, "<br>").into_iter().map(escape).collect();
        text.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    let legend = legend(history);
    if !legend.is_empty() {
        text.push('\n');
        text.push_str(&legend);
    }
    text
}

/// What the marks mean, for the formats that show them; empty without clusters.
pub fn legend(history: &History) -> String {
    if history.clusters.is_empty() {
        return String::new();
    }
    let unknown = history.releases.iter().any(|r| r.clusters.values().any(|m| *m == Mark::Unknown));
    let unknown = if unknown { " · ? cannot tell (a look-up failed)" } else { "" };
    format!("● runs in the cluster now · ○ published to it before{unknown}\n")
}

/// RFC 4180 CSV (CRLF line ends): fields with commas, quotes or line breaks are quoted.
pub fn csv(history: &History) -> String {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let rows =
        std::iter::once(header(history)).chain(history.releases.iter().map(|r| cells(history, r, "\n")));
    for row in rows {
        writer.write_record(row).expect("writing into memory does not fail");
    }
    let bytes = writer.into_inner().expect("flushing into memory does not fail");
    String::from_utf8(bytes).expect("the cells are UTF-8")
}

/// `text` with the block between the markers replaced by `block`; everything outside the
/// markers, the marker lines included, is kept byte for byte.
pub fn replace_block(file: &str, text: &str, block: &str) -> Result<String> {
    let refuse = |detail: String| Error::Markers { file: file.to_string(), detail };
    let begin = single(text, BEGIN_MARKER).map_err(&refuse)?;
    let end = single(text, END_MARKER).map_err(&refuse)?;
    if end < begin {
        return Err(refuse(format!(
            "{END_MARKER} comes before {BEGIN_MARKER}; put the begin marker first, the table goes between them"
        )));
    }
    let inner_start = begin + BEGIN_MARKER.len();
    Ok(format!("{}\n{}{}", &text[..inner_start], block, &text[end..]))
}

fn single(text: &str, marker: &str) -> std::result::Result<usize, String> {
    let found: Vec<usize> = text.match_indices(marker).map(|(at, _)| at).collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "no {marker} marker, so there is no block to replace. Add the two lines \
             {BEGIN_MARKER} and {END_MARKER} where the table belongs; nothing was written"
        )),
        many => Err(format!(
            "{marker} appears {} times, so which block to replace is ambiguous. Keep one pair of \
             markers; nothing was written",
            many.len()
        )),
    }
}

/// Rewrites the marked block of a file with the Markdown history.
pub fn update_file(path: &std::path::Path, history: &History) -> Result<()> {
    let file = path.display().to_string();
    let io = |action: &'static str| {
        let file = file.clone();
        move |e: std::io::Error| Error::File { action, file, detail: e.to_string() }
    };
    let text = std::fs::read_to_string(path).map_err(io("read"))?;
    let updated = replace_block(&file, &text, &markdown(history))?;
    std::fs::write(path, updated).map_err(io("write"))
}

impl Text for Formatted {
    fn text(&self, draw: &dyn Draw) -> String {
        let history = &self.history;
        match self.format {
            HistoryFormat::Json => {
                serde_json::to_string_pretty(history).map(|json| json + "\n").unwrap_or_default()
            }
            HistoryFormat::Markdown => markdown(history),
            HistoryFormat::Csv => csv(history),
            HistoryFormat::Table if history.releases.is_empty() => format!(
                "No releases in {}: AMIs become releases when gio-ami builds them or with \
                 `gio-ami adopt AMI_ID`.\n",
                history.regions.join(", ")
            ),
            HistoryFormat::Table => {
                let header = header(history);
                let mut table = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
                for release in &history.releases {
                    table.row(cells(history, release, "\n").into_iter().map(Cell::new).collect());
                }
                format!("{}\n{}", draw.table(&table), legend(history))
            }
        }
    }
}

impl Text for Updated {
    fn text(&self, _: &dyn Draw) -> String {
        format!("{}: history block updated ({} releases)\n", self.file, self.releases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;
    use std::collections::{HashMap, HashSet};

    fn release_image(id: &str, release: &str, created_at: &str, clusters: &str) -> Image {
        let mut image = image(id, "2020-01-01T00:00:00.000Z", &[]);
        for (key, value) in [
            (tags::RELEASE, release),
            (tags::CREATED_AT, created_at),
            (tags::AUTHOR, "ana"),
            (tags::CONTACT, "ops@example.org"),
            (tags::DESCRIPTION, "with the fix for the VM size t2.small => t2.medium, again"),
            (tags::CLUSTERS, clusters),
        ] {
            image.tags.insert(key.into(), value.into());
        }
        image
    }

    fn listing(region: &str, images: Vec<Image>) -> Listing {
        Listing { account: None, region: region.into(), images }
    }

    fn history() -> History {
        let eu = vec![
            release_image("ami-0000000a", "r1", "2026-01-01T10:00:00Z", "prod, dev"),
            release_image("ami-0000000b", "r2", "2026-02-01T10:00:00Z", "dev"),
            image("ami-0000000c", "2026-03-01T00:00:00.000Z", &[]),
        ];
        let us = vec![release_image("ami-0000000d", "r2", "2026-02-01T10:00:00Z", "")];
        let observed = Observed {
            running: HashMap::from([
                ("prod".to_string(), HashSet::from(["ami-0000000d".to_string()])),
                ("dev".to_string(), HashSet::from(["ami-0000000b".to_string()])),
            ]),
            ..Observed::default()
        };
        let clusters = vec!["prod".to_string(), "dev".to_string()];
        History {
            releases: releases(&[listing("eu-west-1", eu), listing("us-east-1", us)], &clusters, &observed),
            clusters,
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            accounts: Vec::new(),
            api_calls: 3,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn rows_are_releases_newest_first_merged_across_regions() {
        let history = history();
        let names: Vec<&str> = history.releases.iter().map(|r| r.release.as_str()).collect();
        assert_eq!(names, ["r2", "r1"], "the untagged AMI is no release");
        let regions: Vec<(&str, &str)> =
            history.releases[0].amis.iter().map(|a| (a.region.as_str(), a.id.as_str())).collect();
        assert_eq!(regions, [("eu-west-1", "ami-0000000b"), ("us-east-1", "ami-0000000d")]);
    }

    #[test]
    fn a_set_is_one_row_with_its_amis_by_variant_in_the_same_columns() {
        let member = |id: &str, arch: &str| {
            let mut image = release_image(id, "s1", "2026-03-01T10:00:00Z", "");
            image.name = format!("s1-{arch}-standard");
            image.tags.insert(tags::ARCH.into(), arch.into());
            image.tags.insert(tags::VARIANT.into(), "standard".into());
            image
        };
        let images = vec![member("ami-000000a2", "arm64"), member("ami-000000a1", "x86_64")];
        let rows = releases(&[listing("eu-west-1", images)], &[], &Observed::default());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "s1");
        let variants: Vec<String> =
            rows[0].variants.iter().map(|v| format!("{} {}", v.member, v.ami)).collect();
        assert_eq!(variants, ["x86_64/standard ami-000000a1", "arm64/standard ami-000000a2"]);
        let history = History {
            clusters: Vec::new(),
            regions: vec!["eu-west-1".into()],
            accounts: Vec::new(),
            releases: rows,
            api_calls: 0,
            warnings: Vec::new(),
        };
        let cells = cells(&history, &history.releases[0], "\n");
        assert_eq!(cells.len(), header(&history).len(), "no column more for a set");
        assert!(
            cells.contains(&"x86_64/standard ami-000000a1\narm64/standard ami-000000a2".to_string()),
            "{cells:?}"
        );
    }

    #[test]
    fn running_beats_published_and_unmarked_clusters_stay_empty() {
        let history = history();
        let r2 = &history.releases[0].clusters;
        assert_eq!(r2.get("prod"), Some(&Mark::Running), "prod runs the us-east-1 copy");
        assert_eq!(r2.get("dev"), Some(&Mark::Running));
        let r1 = &history.releases[1].clusters;
        assert_eq!((r1.get("prod"), r1.get("dev")), (Some(&Mark::Published), Some(&Mark::Published)));
        let only_published = releases(
            &[listing("eu-west-1", vec![release_image("ami-0000000e", "r3", "x", "")])],
            &["prod".into()],
            &Observed::default(),
        );
        assert!(only_published[0].clusters.is_empty());
    }

    #[test]
    fn an_unread_cluster_is_unknown_in_every_row_and_the_others_keep_their_marks() {
        let observed = Observed {
            running: HashMap::from([("dev".to_string(), HashSet::from(["ami-0000000b".to_string()]))]),
            unread: BTreeMap::from([("prod".to_string(), "ListNodegroups failed: …".to_string())]),
        };
        let images = vec![
            release_image("ami-0000000a", "r1", "2026-01-01T10:00:00Z", "prod"),
            release_image("ami-0000000b", "r2", "2026-02-01T10:00:00Z", ""),
        ];
        let clusters = vec!["prod".to_string(), "dev".to_string()];
        let rows = releases(&[listing("eu-west-1", images)], &clusters, &observed);
        let marks: Vec<Vec<(&str, Mark)>> =
            rows.iter().map(|r| r.clusters.iter().map(|(c, m)| (c.as_str(), *m)).collect()).collect();
        assert_eq!(
            marks,
            [vec![("dev", Mark::Running), ("prod", Mark::Unknown)], vec![("prod", Mark::Unknown)]]
        );
        let history = History {
            releases: rows,
            clusters,
            regions: vec!["eu-west-1".into()],
            accounts: Vec::new(),
            api_calls: 1,
            warnings: Vec::new(),
        };
        assert!(
            markdown(&history).lines().nth(2).unwrap().starts_with("| r2 | ? | ● |"),
            "{}",
            markdown(&history)
        );
        assert!(legend(&history).contains("? cannot tell"));
    }

    #[test]
    fn markdown_has_one_column_per_cluster_and_escapes_cells() {
        let mut history = history();
        history.releases[0].protected = true;
        history.releases[0].last_launched = "2026-11-30T10:00:00.000Z".parse().ok();
        let text = markdown(&history);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "| RELEASE | prod | dev | DATE | AUTHOR | CONTACT | DESCRIPTION | REGION | AMI | PARENT | PROTECTED | LAST LAUNCH |");
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| r2 | ● | ● | 2026-02-01 | ana | ops@example.org | with the fix for the VM size t2.small => t2.medium, again | eu-west-1<br>us-east-1 | ami-0000000b<br>ami-0000000d |  | yes | 2026-11-30 |"
        );
        assert!(lines[3].starts_with("| r1 | ○ | ○ | 2026-01-01 |"), "{}", lines[3]);
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let text = csv(&history());
        let mut lines = text.split("\r\n");
        assert_eq!(
            lines.next(),
            Some("RELEASE,prod,dev,DATE,AUTHOR,CONTACT,DESCRIPTION,REGION,AMI,PARENT,PROTECTED,LAST LAUNCH")
        );
        assert_eq!(
            lines.next(),
            Some("r2,●,●,2026-02-01,ana,ops@example.org,\"with the fix for the VM size t2.small => t2.medium, again\",\"eu-west-1\nus-east-1\",\"ami-0000000b\nami-0000000d\",,,")
        );
    }

    #[test]
    fn regions_default_to_the_current_one_and_the_clusters() {
        let cluster =
            |region: &str| Cluster { name: "c".into(), region: region.into(), ..Cluster::default() };
        let clusters = [cluster("us-east-1"), cluster("eu-west-1")];
        assert_eq!(regions(&[], "eu-west-1", &clusters), ["eu-west-1", "us-east-1"]);
        assert_eq!(regions(&["ap-south-1".into()], "eu-west-1", &clusters), ["ap-south-1"]);
    }

    #[test]
    fn only_the_marked_block_changes() {
        let text = format!("# Nodes\nintro\n{BEGIN_MARKER}\nold table\n{END_MARKER}\noutro\n");
        let updated = replace_block("README.md", &text, "| new |\n").unwrap();
        assert_eq!(updated, format!("# Nodes\nintro\n{BEGIN_MARKER}\n| new |\n{END_MARKER}\noutro\n"));
        assert_eq!(replace_block("README.md", &updated, "| new |\n").unwrap(), updated, "idempotent");
    }

    #[test]
    fn missing_duplicated_or_swapped_markers_are_refused() {
        let cases = [
            ("no markers\n".to_string(), "no <!-- gio-ami:history:begin --> marker"),
            (format!("{BEGIN_MARKER}\n"), "no <!-- gio-ami:history:end --> marker"),
            (format!("{BEGIN_MARKER}\n{END_MARKER}\n{BEGIN_MARKER}\n{END_MARKER}\n"), "appears 2 times"),
            (format!("{END_MARKER}\n{BEGIN_MARKER}\n"), "comes before"),
        ];
        for (text, expected) in cases {
            let err = replace_block("README.md", &text, "x").unwrap_err().to_string();
            assert!(err.starts_with("README.md: ") && err.contains(expected), "{err}");
        }
    }
}
