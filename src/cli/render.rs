//! Everything the tool prints on stdout: tables for people, JSON for scripts.

use super::args::{Format, HistoryFormat};
use comfy_table::{presets, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};
use gio_ami::aws::base::Base;
use gio_ami::aws::control_plane::Support;
use gio_ami::aws::inventory::{Image, Mapping, Protection};
use gio_ami::aws::lineage::Node;
use gio_ami::aws::org::Located;
use gio_ami::aws::orphans::{Origin, Orphan};
use gio_ami::change::{self, Action, Kind, Outcome, Status};
use gio_ami::commands::cost::{AccountCost, Cost, Costs};
use gio_ami::commands::history::{self, History};
use gio_ami::commands::outdated::{self, Outdated};
use gio_ami::commands::promote::Promotion;
use gio_ami::commands::snapshots::AmiSnapshots;
use gio_ami::commands::upload::{Plan as UploadPlan, Uploaded};
use gio_ami::core::clock::Timestamp;
use gio_ami::engines::register::Plan as RegisterPlan;
use gio_ami::engines::Built;
use gio_ami::spec::{Loaded, Warning};
use gio_ami::transfer::download::Downloaded;
use serde::Serialize;
use std::io::{self, Write};

pub struct Output {
    format: Format,
}

/// A promotion's gates, each with what it measured, before its plan.
pub fn gates(promotion: &Promotion) -> String {
    let mut text = format!(
        "promote {} -> {}: {}{}\n",
        promotion.from,
        promotion.to,
        promotion.ami.as_deref().unwrap_or("nothing"),
        promotion.release.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    );
    for gate in &promotion.gates {
        text.push_str(&format!("  {} {}\n", if gate.passed { "ok  " } else { "FAIL" }, gate.measured));
    }
    text.push('\n');
    text
}

/// A command's own part of its report, beside the shared shape.
#[derive(Debug, Default)]
pub struct Own {
    /// Fields at the top of the JSON, where scripts written before the shape read them
    /// (publish's `ami`, an upload's `snapshot_id`, a build's `phases`).
    pub top: serde_json::Map<String, serde_json::Value>,
    /// For people, before the plan: what a table of actions cannot show (mappings).
    pub before: String,
    /// For people, after the outcomes (an upload's throughput).
    pub after: String,
}

impl Own {
    /// Adds `part`'s fields (an object's) to the top of the JSON; a field already there stays.
    pub fn with_top(mut self, part: &impl Serialize) -> io::Result<Own> {
        if let serde_json::Value::Object(more) = serde_json::to_value(part)? {
            add_missing(&mut self.top, more);
        }
        Ok(self)
    }
}

/// Adds the fields of `more` that `fields` does not have: what is there first stays.
fn add_missing(
    fields: &mut serde_json::Map<String, serde_json::Value>,
    more: serde_json::Map<String, serde_json::Value>,
) {
    for (key, value) in more {
        fields.entry(key).or_insert(value);
    }
}

/// What an apply made, beside its outcomes: its part of the report.
pub trait Made {
    fn own(&self, own: Own) -> io::Result<Own>;
}

impl Made for () {
    fn own(&self, own: Own) -> io::Result<Own> {
        Ok(own)
    }
}

/// The counts scripts read at the top (`snapshot_id`, `blocks_sent`), and the throughput.
impl Made for Uploaded {
    fn own(&self, own: Own) -> io::Result<Own> {
        let mut own = own.with_top(self)?;
        own.after.push_str(&upload_figures(self));
        Ok(own)
    }
}

/// The AMI, its name and the phases, at the top where scripts read them.
impl Made for Built {
    fn own(&self, own: Own) -> io::Result<Own> {
        own.with_top(self)
    }
}

/// A template written by `packer render`.
#[derive(Debug, Serialize)]
pub struct Rendered {
    pub path: String,
    pub format: gio_ami::engines::packer::TemplateFormat,
}

impl Output {
    pub fn new(format: Format) -> Self {
        Self { format }
    }

    /// `scope` says where they were read (`Org::scope`), for the line that says none is there.
    pub fn images(&self, images: &[Located<Image>], scope: &str) -> io::Result<()> {
        self.emit(images, || {
            if images.is_empty() {
                return format!("No AMIs owned by {scope}.\n");
            }
            let mut table = placed(
                images,
                &["NAME", "AMI", "STATE", "CREATED", "LAST LAUNCH", "RELEASE", "SNAPSHOTS", "GiB"],
            );
            for located in images {
                let image = &located.item;
                table.add_row(where_read(
                    located,
                    vec![
                        Cell::new(&image.name),
                        Cell::new(&image.id),
                        Cell::new(match image.protection {
                            Protection::Disabled => image.state.to_string(),
                            _ => format!("{}\nprotected", image.state),
                        }),
                        Cell::new(short_time(image.created.as_ref().map(Timestamp::as_str))),
                        Cell::new(short_time(image.last_launched.as_ref().map(Timestamp::as_str))),
                        Cell::new(image.release().unwrap_or("-")),
                        Cell::new(image.snapshot_ids().collect::<Vec<_>>().join("\n")),
                        Cell::new(image.total_gib()).set_alignment(CellAlignment::Right),
                    ],
                ));
            }
            format!("{table}\n")
        })
    }

    pub fn ami_snapshots(&self, amis: &[AmiSnapshots]) -> io::Result<()> {
        self.emit(amis, || {
            amis.iter()
                .map(|ami| {
                    let mut table =
                        table(&["DEVICE", "SNAPSHOT", "GiB", "TYPE", "STATE", "STARTED", "DESCRIPTION"]);
                    for device in &ami.devices {
                        let snapshot = device.snapshot.as_ref();
                        table.add_row(vec![
                            Cell::new(&device.device),
                            Cell::new(&device.snapshot_id),
                            Cell::new(snapshot.map(|s| s.size_gib.to_string()).unwrap_or_default())
                                .set_alignment(CellAlignment::Right),
                            Cell::new(device.volume_type.as_deref().unwrap_or("-")),
                            Cell::new(snapshot.map_or("deleted", |s| s.state.as_str())),
                            Cell::new(short_time(
                                snapshot.and_then(|s| s.started.as_ref()).map(Timestamp::as_str),
                            )),
                            Cell::new(snapshot.map_or("", |s| s.description.as_str())),
                        ]);
                    }
                    let heading = format!("{} ({})", ami.image.id, ami.image.name);
                    if ami.devices.is_empty() {
                        format!("{heading}: no EBS snapshots (instance-store only)\n")
                    } else {
                        format!("{heading}\n{table}\n")
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    pub fn orphans(&self, orphans: &[Located<Orphan>], scope: &str) -> io::Result<()> {
        self.emit(orphans, || {
            if orphans.is_empty() {
                return format!("No orphan snapshots: every snapshot of {scope} backs an AMI.\n");
            }
            let mut table =
                placed(orphans, &["SNAPSHOT", "GiB", "STATE", "STARTED", "MADE FOR", "DESCRIPTION"]);
            for located in orphans {
                let orphan = &located.item;
                let s = &orphan.snapshot;
                table.add_row(where_read(
                    located,
                    vec![
                        Cell::new(&s.id),
                        Cell::new(s.size_gib).set_alignment(CellAlignment::Right),
                        Cell::new(&s.state),
                        Cell::new(short_time(s.started.as_ref().map(Timestamp::as_str))),
                        Cell::new(made_for(&orphan.origin)),
                        Cell::new(&s.description),
                    ],
                ));
            }
            let gib: i64 = orphans.iter().map(|o| i64::from(o.item.snapshot.size_gib)).sum();
            format!("{table}\n{} orphan snapshot(s), {gib} GiB billed until deleted.\n", orphans.len())
        })
    }

    pub fn lineage(&self, nodes: &[Node]) -> io::Result<()> {
        self.emit(nodes, || {
            nodes
                .iter()
                .map(|node| {
                    let indent = if node.depth == 0 {
                        String::new()
                    } else {
                        format!("{}└─ ", "   ".repeat(node.depth - 1))
                    };
                    let name = node.name.as_deref().unwrap_or("(not in this account: the base)");
                    let marker = if node.target { "   ◀" } else { "" };
                    format!("{indent}{}  {name}{marker}\n", node.id)
                })
                .collect()
        })
    }

    pub fn checked(&self, loaded: &Loaded) -> io::Result<()> {
        #[derive(Serialize)]
        struct Checked<'a> {
            spec: String,
            valid: bool,
            warnings: &'a [Warning],
        }
        let checked =
            Checked { spec: loaded.path.display().to_string(), valid: true, warnings: &loaded.warnings };
        self.emit(&checked, || {
            let mut text = format!("{}: valid\n", checked.spec);
            for w in &loaded.warnings {
                text.push_str(&format!("warning: {}: {}\n", w.key, w.message));
            }
            text
        })
    }

    pub fn base(&self, base: &Base) -> io::Result<()> {
        self.emit(base, || {
            let image = &base.image;
            let mut table = table(&["AMI", "NAME", "RELEASE", "CREATED", "PARAMETER"]);
            table.add_row(vec![
                image.id.as_str(),
                image.name.as_str(),
                base.release_version.as_deref().unwrap_or("-"),
                &short_time(image.created.as_ref().map(Timestamp::as_str)),
                base.parameter.as_deref().unwrap_or("-"),
            ]);
            format!("{table}\n")
        })
    }

    /// Where `packer render` wrote the template.
    pub fn rendered(&self, rendered: &Rendered) -> io::Result<()> {
        self.emit(rendered, || format!("{}\n", rendered.path))
    }

    pub fn downloaded(&self, downloaded: &Downloaded) -> io::Result<()> {
        self.emit(downloaded, || {
            format!(
                "{} -> {}: {} GiB, {} blocks written ({} holes left sparse), {:.1} MiB/s\n",
                downloaded.snapshot_id,
                downloaded.path,
                downloaded.volume_gib,
                downloaded.blocks_written,
                downloaded.blocks_sparse,
                downloaded.mib_per_second
            )
        })
    }

    /// A plan for people, before the question whether to apply it; scripts get it with the
    /// outcomes in one JSON document from `report`.
    pub fn plan<F>(&self, plan: &change::Plan<F>) -> io::Result<()> {
        if self.format == Format::Json {
            return Ok(());
        }
        io::stdout().lock().write_all(plan_text(plan, None).as_bytes())
    }

    /// What a mutating command did (or, not applied, would do), in the shape every one of
    /// them shares; `unapplied` is the closing line when nothing was applied, and `own` the
    /// command's part beside the shape.
    pub fn report<F: Serialize>(
        &self,
        report: &change::Report<'_, F>,
        unapplied: &str,
        own: &Own,
    ) -> io::Result<()> {
        let mut json = serde_json::to_value(report)?;
        if let Some(fields) = json.as_object_mut() {
            add_missing(fields, own.top.clone());
        }
        self.emit(&json, || format!("{}{}{}", own.before, report_text(report, unapplied), own.after))
    }

    /// Dry-run plans of several places: each under where it would apply; JSON is a list of
    /// the reports, each with its account and region.
    pub fn plans<F: Serialize>(&self, plans: &[Located<change::Plan<F>>], unapplied: &str) -> io::Result<()> {
        let reports: Vec<Located<change::Report<'_, F>>> = plans
            .iter()
            .map(|p| Located {
                account: p.account.clone(),
                region: p.region.clone(),
                item: change::Report::new(&p.item, None),
            })
            .collect();
        self.emit(&reports, || {
            reports
                .iter()
                .map(|r| {
                    format!(
                        "account {} in {}:\n{}",
                        r.account.as_deref().unwrap_or("-"),
                        r.region.as_deref().unwrap_or("-"),
                        report_text(&r.item, unapplied)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// The release history in the asked format; `--output json` means JSON whatever `--format`.
    pub fn history(&self, history: &History, format: HistoryFormat) -> io::Result<()> {
        let format = if self.format == Format::Json { HistoryFormat::Json } else { format };
        let text = match format {
            HistoryFormat::Json => return Output::new(Format::Json).emit(history, String::new),
            HistoryFormat::Markdown => history::markdown(history),
            HistoryFormat::Csv => history::csv(history),
            HistoryFormat::Table if history.releases.is_empty() => format!(
                "No releases in {}: AMIs become releases when gio-ami builds them or with \
                 `gio-ami adopt AMI_ID`.\n",
                history.regions.join(", ")
            ),
            HistoryFormat::Table => {
                let header = history::header(history);
                let mut table = table(&header.iter().map(String::as_str).collect::<Vec<_>>());
                for release in &history.releases {
                    table.add_row(history::cells(history, release, "\n"));
                }
                format!("{table}\n{}", history::legend(history))
            }
        };
        io::stdout().lock().write_all(text.as_bytes())
    }

    /// What `history --update FILE` did.
    pub fn history_updated(&self, file: &str, history: &History) -> io::Result<()> {
        #[derive(Serialize)]
        struct Updated<'a> {
            file: &'a str,
            releases: usize,
            api_calls: usize,
        }
        let updated = Updated { file, releases: history.releases.len(), api_calls: history.api_calls };
        self.emit(&updated, || {
            format!("{file}: history block updated ({} releases)\n", history.releases.len())
        })
    }

    /// Per cluster and release: the base it was built on against the one recommended now.
    pub fn outdated(&self, report: &Outdated) -> io::Result<()> {
        self.emit(report, || {
            let mut table =
                table(&["CLUSTER", "KUBERNETES", "RELEASE", "ON NODES", "BASE", "RECOMMENDED", "BEHIND"]);
            for cluster in &report.clusters {
                let name = match &cluster.account {
                    Some(account) => format!("{}\naccount {account}", cluster.name),
                    None => cluster.name.clone(),
                };
                let kubernetes = cluster.control_plane.as_ref().map_or("-".to_string(), |p| {
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
                if cluster.releases.is_empty() {
                    table.add_row(vec![
                        name.clone(),
                        kubernetes.clone(),
                        "(nothing runs or was published)".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                    ]);
                }
                for (n, node) in cluster.releases.iter().enumerate() {
                    let base = |b: &Option<outdated::BaseState>| {
                        b.as_ref().map_or("?".to_string(), |b| {
                            let deprecated = if b.deprecated { ", deprecated" } else { "" };
                            format!(
                                "{}
{}{deprecated}",
                                b.release_version.as_deref().or(b.name.as_deref()).unwrap_or("?"),
                                b.ami
                            )
                        })
                    };
                    let on = match (node.running, node.published) {
                        (true, true) => "runs, published",
                        (true, false) => "runs",
                        (false, _) => "published, not seen running",
                    };
                    let skew = node
                        .skew
                        .filter(|s| *s != 0)
                        .map(|s| {
                            format!("\nnodes {} ({s:+} minor)", node.kubernetes.as_deref().unwrap_or("?"))
                        })
                        .unwrap_or_default();
                    let behind = match (node.newer_base, node.behind_days) {
                        (Some(false), _) => "current".to_string(),
                        (Some(true), Some(days)) => format!("{days} days"),
                        (Some(true), None) => "newer base".to_string(),
                        (None, _) => "?".to_string(),
                    };
                    table.add_row(vec![
                        if n == 0 { name.clone() } else { String::new() },
                        if n == 0 { format!("{kubernetes}{skew}") } else { skew.trim_start().to_string() },
                        format!("{}\n{}", node.release.as_deref().unwrap_or("?"), node.ami),
                        on.to_string(),
                        base(&node.base),
                        base(&node.recommended),
                        behind,
                    ]);
                }
            }
            let unknown: String = report
                .clusters
                .iter()
                .flat_map(|c| {
                    c.releases.iter().filter_map(move |n| {
                        n.unknown.as_ref().map(|why| format!("{} {}: {why}\n", c.name, n.ami))
                    })
                })
                .collect();
            format!("{table}\n{unknown}{} AWS requests.\n", report.api_calls)
        })
    }

    pub fn cost(&self, cost: &Cost) -> io::Result<()> {
        self.emit(cost, || {
            let money = |usd: f64| format!("{usd:.2}");
            let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
            let mut headers = vec!["RELEASE", "AMIS", "SNAPSHOTS", "GiB", "USD/MONTH"];
            if cost.exact.is_some() {
                headers.extend(["BILLED GiB", "BILLED USD/MONTH"]);
            }
            let mut table = table(&headers);
            for r in &cost.releases {
                let mut row = vec![
                    Cell::new(&r.release),
                    Cell::new(r.amis.join("\n")),
                    right(r.snapshots.to_string()),
                    right(r.gib.to_string()),
                    right(money(r.usd_per_month)),
                ];
                if cost.exact.is_some() {
                    row.push(right(r.billed_gib.map_or("?".into(), |gib| format!("{gib:.3}"))));
                    row.push(right(r.billed_gib.map_or("?".into(), |gib| money(gib * cost.price_per_gib_month))));
                }
                table.add_row(row);
            }
            let exact = cost.exact.as_ref().map_or(String::new(), |exact| {
                format!(
                    "Billed (blocks EBS counts): {:.3} GiB, {} USD/month, over {} snapshots; counting took {} EBS direct requests.\n",
                    exact.billed_gib,
                    money(exact.billed_usd_per_month),
                    exact.snapshots.len(),
                    exact.requests
                )
            });
            let unused = match &cost.unused_amis {
                Some(amis) if amis.is_empty() => "Every AMI runs in a cluster.\n".to_string(),
                Some(amis) => format!("AMIs no cluster runs ({}): {}\n", amis.len(), amis.join(" ")),
                None if !cost.warnings.is_empty() => {
                    "Which AMIs are unused is unknown: what a cluster runs could not be read (see the warnings).\n".to_string()
                }
                None => "No cluster of gio-ami.toml is in this region: cannot tell which AMIs are unused.\n".to_string(),
            };
            let tiers = format!(
                "Standard tier: {} GiB at {} USD per GiB-month; archive tier: {} GiB, {} USD/month at {}.\n",
                cost.standard_gib,
                cost.price_per_gib_month,
                cost.archive_gib,
                money(cost.archive_gib as f64 * cost.archive_price_per_gib_month),
                cost.archive_price_per_gib_month
            );
            let locked = cost.locked_gib.map_or("Locked snapshots: unknown (see the warnings).\n".to_string(), |gib| {
                format!("Locked snapshots (LockSnapshot; no plan deletes them): {gib} GiB.\n")
            });
            let saves = cost.archiving_unused_saves_usd_per_month.map_or(String::new(), |usd| {
                let net = match usd < 0.0 {
                    true => format!("would cost {} USD/month more", money(-usd)),
                    false => format!("would save {} USD/month", money(usd)),
                };
                let losses: String = cost.archiving.iter().filter_map(|a| a.loss()).map(|l| format!("  {l}\n")).collect();
                format!("Archiving the releases no cluster runs (`gio-ami archive`) {net}.\n{losses}")
            });
            format!(
                "{table}\nTotal in {}: {} GiB, {} USD/month.\n{tiers}{locked}{exact}{saves}\
                 Orphan snapshots (no AMI references them): {}, {} GiB, {} USD/month.\n{unused}\
                 Note: {}\n",
                cost.region,
                cost.total_gib,
                money(cost.total_usd_per_month),
                cost.orphans.len(),
                cost.orphan_gib,
                money(cost.orphan_gib as f64 * cost.price_per_gib_month),
                cost.note
            )
        })
    }

    /// One row per configured account × region, and the totals.
    pub fn costs(&self, costs: &Costs) -> io::Result<()> {
        self.emit(costs, || {
            let money = |usd: f64| format!("{usd:.2}");
            let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
            let mut table = table(&[
                "ACCOUNT",
                "REGION",
                "RELEASES",
                "GiB",
                "USD/MONTH",
                "ORPHAN GiB",
                "UNUSED AMIS",
                "ARCHIVING SAVES",
            ]);
            for AccountCost { account, cost } in &costs.accounts {
                table.add_row(vec![
                    Cell::new(account),
                    Cell::new(&cost.region),
                    right(cost.releases.len().to_string()),
                    right(cost.total_gib.to_string()),
                    right(money(cost.total_usd_per_month)),
                    right(cost.orphan_gib.to_string()),
                    right(cost.unused_amis.as_ref().map_or("?".into(), |amis| amis.len().to_string())),
                    right(cost.archiving_unused_saves_usd_per_month.map_or("?".into(), money)),
                ]);
            }
            format!(
                "{table}\nTotal: {} GiB, {} USD/month; orphan snapshots {} GiB.\n",
                costs.total_gib,
                money(costs.total_usd_per_month),
                costs.orphan_gib
            )
        })
    }

    fn emit<T: Serialize + ?Sized>(&self, value: &T, table: impl FnOnce() -> String) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match self.format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, value)?;
                writeln!(out)
            }
            Format::Table => out.write_all(table().as_bytes()),
        }
    }
}

/// Columns that hold AWS ids (alone, or leading a name): never narrower than the longest id
/// (`snap-` and 17 hex digits) and the cell's padding, so an id is never broken across lines;
/// names wrap instead.
const ID_COLUMNS: [&str; 6] = ["AMI", "AMIS", "SNAPSHOT", "SNAPSHOTS", "RESOURCE", "FROM"];
const ID_WIDTH: u16 = 22 + 2;

/// A table of rows read in several places: ACCOUNT and REGION lead when `[accounts]` is set.
fn placed<T>(rows: &[Located<T>], header: &[&str]) -> Table {
    match rows.iter().any(|r| r.account.is_some()) {
        true => table(&[&["ACCOUNT", "REGION"], header].concat()),
        false => table(header),
    }
}

/// A row's cells, after where it was read when that is shown.
fn where_read<T>(row: &Located<T>, cells: Vec<Cell>) -> Vec<Cell> {
    match (&row.account, &row.region) {
        (Some(account), Some(region)) => [vec![Cell::new(account), Cell::new(region)], cells].concat(),
        _ => cells,
    }
}

/// A table as wide as the terminal (or `COLUMNS`, as a script can ask for): cells wrap at
/// words to fit. Into a pipe with no `COLUMNS`, rows stay whole, one line each.
fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    if let Some(width) = std::env::var("COLUMNS").ok().and_then(|c| c.parse::<u16>().ok()) {
        table.set_width(width);
    }
    for (n, name) in header.iter().enumerate() {
        if let (true, Some(column)) = (ID_COLUMNS.contains(name), table.column_mut(n)) {
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(ID_WIDTH)));
        }
    }
    table
}

/// A report for people: the plan, then what became of it (or `unapplied`, when nothing was).
fn report_text<F>(report: &change::Report<'_, F>, unapplied: &str) -> String {
    let outcomes = report.applied.then_some(report.outcomes);
    let mut text = plan_text(report.plan, outcomes);
    if !report.applied {
        text.push_str(&format!("{unapplied}\n"));
        return text;
    }
    for outcome in report.outcomes {
        match &outcome.status {
            Status::Failed(why) => text.push_str(&format!("failed: {}: {why}\n", outcome.action.id())),
            Status::Skipped(why) => text.push_str(&format!("skipped: {}: {why}\n", outcome.action.id())),
            _ => {}
        }
    }
    let s = &report.summary;
    let skipped = if s.skipped > 0 { format!(", {} skipped", s.skipped) } else { String::new() };
    text.push_str(&format!(
        "done: {} changed, {} reused, {} already gone, {} kept, {} failed{skipped}.\n",
        s.changed, s.reused, s.already_gone, s.kept, s.failed
    ));
    text
}

/// The plan as a table (with each action's result once applied), its warnings, and a line
/// counting what it does.
fn plan_text<F>(plan: &change::Plan<F>, outcomes: Option<&[Outcome]>) -> String {
    let mut text = String::new();
    if !plan.actions.is_empty() {
        let mut header = vec!["ACTION", "RESOURCE", "DETAIL", "WHY"];
        header.extend(outcomes.map(|_| "RESULT"));
        let mut table = table(&header);
        // Once applied, the outcomes are the rows: in the order they ran, with the ids AWS
        // gave what they made.
        let rows: Vec<(&Action, Option<&Status>)> = match outcomes {
            Some(outcomes) => outcomes.iter().map(|o| (&o.action, Some(&o.status))).collect(),
            None => plan.actions.iter().map(|a| (a, None)).collect(),
        };
        for (action, status) in rows {
            let mut row = vec![
                Cell::new(action.verb()),
                Cell::new(action.resource()),
                Cell::new(action.detail()),
                Cell::new(action.why()),
            ];
            if let Some(status) = status {
                row.push(Cell::new(result(status)));
            }
            table.add_row(row);
        }
        text.push_str(&format!("{table}\n"));
    }
    for warning in &plan.warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    text.push_str(&format!("plan: {}.\n", counts(&plan.actions, plan.freed_gib())));
    text
}

/// `deregister 1 AMI(s), delete 2 snapshot(s), 40 GiB freed`: each verb and kind counted, in
/// plan order.
fn counts(actions: &[Action], freed_gib: i64) -> String {
    let mut groups: Vec<(&str, Kind, usize)> = Vec::new();
    for action in actions {
        match groups.iter_mut().find(|(verb, kind, _)| *verb == action.verb() && *kind == action.kind()) {
            Some((_, _, n)) => *n += 1,
            None => groups.push((action.verb(), action.kind(), 1)),
        }
    }
    let mut parts: Vec<String> =
        groups.iter().map(|(verb, kind, n)| format!("{verb} {n} {}", kind.plural())).collect();
    if actions.iter().any(|a| matches!(a, Action::DeleteSnapshot { .. })) {
        parts.push(format!("{freed_gib} GiB freed"));
    }
    if parts.is_empty() {
        return "nothing to do".to_string();
    }
    parts.join(", ")
}

fn result(status: &Status) -> String {
    match status {
        Status::Done => "done".into(),
        Status::Reused => "reused".into(),
        Status::AlreadyGone => "already gone".into(),
        Status::Refused => "kept".into(),
        Status::Failed(e) => format!("FAILED: {e}"),
        Status::Skipped(why) => format!("SKIPPED: {why}"),
    }
}

fn mappings_table(mappings: &[Mapping]) -> Table {
    let mut table = table(&["DEVICE", "FROM", "GiB", "TYPE", "IOPS", "MiB/s", "DELETE ON TERM."]);
    let text = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    for m in mappings {
        table.add_row(vec![
            Cell::new(&m.device),
            Cell::new(match (&m.snapshot_id, &m.virtual_name) {
                (Some(snapshot), _) => snapshot.clone(),
                (None, Some(virtual_name)) => virtual_name.clone(),
                (None, None) if m.no_device => "(suppressed)".into(),
                (None, None) => "(new empty volume)".into(),
            }),
            Cell::new(text(m.size_gib)).set_alignment(CellAlignment::Right),
            Cell::new(m.volume_type.as_deref().unwrap_or("-")),
            Cell::new(text(m.iops)).set_alignment(CellAlignment::Right),
            Cell::new(text(m.throughput)).set_alignment(CellAlignment::Right),
            Cell::new(m.delete_on_termination.map_or("-", |d| if d { "yes" } else { "no" })),
        ]);
    }
    table
}

fn made_for(origin: &Origin) -> String {
    match origin {
        Origin::CreateImage { ami, instance, .. } => format!("{ami} (CreateImage of {instance})"),
        Origin::CopyImage { ami, source_ami } => format!("{ami} (copy of {source_ami})"),
        Origin::Unknown => "-".to_string(),
    }
}

/// `2026-11-25T14:43:11.000Z` → `2026-11-25 14:43`: minutes are enough to tell builds apart in
/// a table; JSON keeps the full timestamp.
fn short_time(time: Option<&str>) -> String {
    match time {
        Some(t) if t.len() >= 16 => format!("{} {}", &t[..10], &t[11..16]),
        Some(t) => t.to_string(),
        None => "-".to_string(),
    }
}

/// What `disks add` registers, for people: each step's mappings.
pub fn disks_steps(plan: &RegisterPlan) -> String {
    let mut text = String::new();
    for (n, step) in plan.steps.iter().enumerate() {
        let parent = if n == 0 { plan.source.id.clone() } else { format!("step {n}") };
        text.push_str(&format!("step {}: register `{}` from {parent}\n", n + 1, step.name));
        text.push_str(&format!("{}\n", mappings_table(&step.mappings)));
    }
    text
}

/// What `upload` sends, for people: the image and its snapshot, then the AMI's mappings.
pub fn upload_intro(upload: &UploadPlan) -> String {
    let target = &upload.target;
    let mut text = format!(
        "upload {} ({}, {} bytes) as a {} GiB snapshot `{}`: {} blocks of 512 KiB, {} workers{}\n",
        target.image,
        upload.format.qemu_name(),
        target.bytes,
        target.volume_gib,
        upload.name,
        target.blocks,
        target.workers,
        match (&target.kms_key, target.encrypted) {
            (Some(key), _) => format!(", encrypted with {key}: every block is sent"),
            (None, true) =>
                ", encrypted (its parent's key, or the account's default): every block is sent".into(),
            (None, false) => String::new(),
        },
    );
    if let (Some(parent), Some(from)) = (&target.parent, &upload.parent_blocks_from) {
        let known =
            if upload.read_parent { String::new() } else { format!("{} blocks, ", target.inherits.len()) };
        text.push_str(&format!(
            "starting from {parent} ({known}known from {from}): only the blocks that differ are sent\n"
        ));
    }
    if let Some(step) = &upload.register {
        text.push_str(&format!(
            "then register `{}` ({}):\n{}\n",
            step.name,
            step.description,
            mappings_table(&step.mappings)
        ));
    }
    text
}

/// How an upload went, for people.
pub fn upload_figures(uploaded: &Uploaded) -> String {
    if uploaded.existed {
        return format!(
            "{} already exists as {} (root snapshot {}): nothing uploaded.\n",
            uploaded.name,
            uploaded.image_id.as_deref().unwrap_or("-"),
            uploaded.snapshot_id
        );
    }
    let inherited = match &uploaded.parent {
        Some(parent) => format!(", {} inherited from {parent}", uploaded.blocks_inherited),
        None => String::new(),
    };
    format!(
        "{} GiB snapshot {}: {} blocks sent{inherited}, {} zero blocks skipped, {:.1} MiB/s ({:.1} s)\n",
        uploaded.volume_gib,
        uploaded.snapshot_id,
        uploaded.blocks_sent,
        uploaded.blocks_skipped,
        uploaded.mib_per_second,
        uploaded.seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_shorten_to_minutes() {
        assert_eq!(short_time(Some("2026-11-25T14:43:11.000Z")), "2026-11-25 14:43");
        assert_eq!(short_time(Some("2026")), "2026");
        assert_eq!(short_time(None), "-");
    }

    #[test]
    fn a_plan_counts_each_verb_and_kind_in_order() {
        let actions = [
            Action::DeregisterImage { id: "ami-1".into(), name: "n".into(), why: String::new() },
            Action::DeleteSnapshot { id: "snap-1".into(), size_gib: 8, why: String::new() },
            Action::Refuse { id: "snap-2".into(), kind: Kind::Snapshot, why: String::new() },
            Action::DeleteSnapshot { id: "snap-3".into(), size_gib: 32, why: String::new() },
        ];
        assert_eq!(
            counts(&actions, 40),
            "deregister 1 AMI(s), delete 2 snapshot(s), keep 1 snapshot(s), 40 GiB freed"
        );
        assert_eq!(counts(&[], 0), "nothing to do");
    }

    #[test]
    fn an_applied_plan_shows_what_was_made_by_its_new_id() {
        let register = |id: &str| Action::RegisterImage {
            id: id.into(),
            name: "gio-node-xvdb".into(),
            parent: "ami-0".into(),
            why: "adds /dev/xvdb".into(),
        };
        let plan: change::Plan =
            change::Plan { actions: vec![register("gio-node-xvdb")], ..change::Plan::default() };
        let dry = plan_text(&plan, None);
        assert!(
            dry.contains("register") && dry.contains("gio-node-xvdb") && !dry.contains("RESULT"),
            "{dry}"
        );
        let outcomes = [Outcome { action: register("ami-1"), status: Status::Done }];
        let applied = plan_text(&plan, Some(&outcomes));
        assert!(applied.contains("ami-1 (gio-node-xvdb)") && applied.contains("done"), "{applied}");
    }

    #[test]
    fn made_for_names_the_ami_and_how() {
        let origin = Origin::CreateImage { ami: "ami-1".into(), instance: "i-2".into(), volume: None };
        assert_eq!(made_for(&origin), "ami-1 (CreateImage of i-2)");
        assert_eq!(made_for(&Origin::Unknown), "-");
    }
}
