//! What every mutating verb prints, in the one shape they share (`change::Report`: the plan,
//! whether it was applied, the outcomes, the counts) with the verb's own part beside it.

use crate::aws::inventory::Mapping;
use crate::aws::org::Located;
use crate::change::{self, Action, Kind, Outcome, Planned, Status};
use crate::core::show::{Cell, Draw, Show, Table};
use serde::Serialize;

/// A verb's own part of its report, beside the shared shape.
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
    pub fn with_top(mut self, part: &impl Serialize) -> serde_json::Result<Own> {
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
    fn own(&self, own: Own) -> serde_json::Result<Own>;
}

impl Made for () {
    fn own(&self, own: Own) -> serde_json::Result<Own> {
        Ok(own)
    }
}

/// A mutating verb's report as printed: the shared shape, the verb's own part, and the closing
/// line when nothing was applied.
pub struct Shown<'a, F, S = Action> {
    pub report: &'a change::Report<'a, F, S>,
    pub own: &'a Own,
    pub unapplied: &'a str,
}

impl<F: Serialize, S: Serialize + Planned> Show for Shown<'_, F, S> {
    fn json(&self) -> serde_json::Result<String> {
        let mut json = serde_json::to_value(self.report)?;
        if let Some(fields) = json.as_object_mut() {
            add_missing(fields, self.own.top.clone());
        }
        serde_json::to_string_pretty(&json)
    }

    fn text(&self, draw: &dyn Draw) -> String {
        format!("{}{}{}", self.own.before, report_text(self.report, self.unapplied, draw), self.own.after)
    }
}

/// A plan alone, for people, before the question whether to apply it.
pub struct PlanShown<'a, F, S = Action>(pub &'a change::Plan<F, S>);

impl<F, S: Planned> Show for PlanShown<'_, F, S> {
    /// Scripts get the plan with the outcomes, in one JSON document, once applied.
    fn json(&self) -> serde_json::Result<String> {
        Ok(String::new())
    }

    fn text(&self, draw: &dyn Draw) -> String {
        plan_text(self.0, None, draw)
    }
}

/// Dry-run plans of several places: each under where it would apply; JSON is a list of the
/// reports, each with its account and region.
pub struct PlacedPlans<'a, F> {
    pub reports: Vec<Located<change::Report<'a, F>>>,
    pub unapplied: &'a str,
}

impl<F: Serialize> Show for PlacedPlans<'_, F> {
    fn json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(&self.reports)
    }

    fn text(&self, draw: &dyn Draw) -> String {
        self.reports
            .iter()
            .map(|r| {
                format!(
                    "account {} in {}:\n{}",
                    r.account.as_deref().unwrap_or("-"),
                    r.region.as_deref().unwrap_or("-"),
                    report_text(&r.item, self.unapplied, draw)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A report for people: the plan, then what became of it (or `unapplied`, when nothing was).
fn report_text<F, S: Planned>(report: &change::Report<'_, F, S>, unapplied: &str, draw: &dyn Draw) -> String {
    let outcomes = report.applied.then_some(report.outcomes);
    let mut text = plan_text(report.plan, outcomes, draw);
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
fn plan_text<F, S: Planned>(
    plan: &change::Plan<F, S>,
    outcomes: Option<&[Outcome<S>]>,
    draw: &dyn Draw,
) -> String {
    let mut text = String::new();
    if !plan.actions.is_empty() {
        let mut header = vec!["ACTION", "RESOURCE", "DETAIL", "WHY"];
        header.extend(outcomes.map(|_| "RESULT"));
        let mut table = Table::new(&header);
        // Once applied, the outcomes are the rows: in the order they ran, with the ids AWS
        // gave what they made.
        let rows: Vec<(&S, Option<&Status>)> = match outcomes {
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
            row.extend(status.map(|status| Cell::new(result(status))));
            table.row(row);
        }
        text.push_str(&format!("{}\n", draw.table(&table)));
    }
    for warning in &plan.warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    text.push_str(&format!("plan: {}.\n", counts(&plan.actions, plan.freed_gib())));
    text
}

/// `deregister 1 AMI(s), delete 2 snapshot(s), 40 GiB freed`: each verb and kind counted, in
/// plan order.
fn counts<S: Planned>(actions: &[S], freed_gib: i64) -> String {
    let mut groups: Vec<(&str, Kind, usize)> = Vec::new();
    for action in actions {
        match groups.iter_mut().find(|(verb, kind, _)| *verb == action.verb() && *kind == action.kind()) {
            Some((_, _, n)) => *n += 1,
            None => groups.push((action.verb(), action.kind(), 1)),
        }
    }
    let mut parts: Vec<String> =
        groups.iter().map(|(verb, kind, n)| format!("{verb} {n} {}", kind.plural())).collect();
    if actions.iter().any(|a| a.frees_gib().is_some()) {
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

/// A table of rows read in several places: ACCOUNT and REGION lead when `[accounts]` is set.
pub(crate) fn placed<T>(rows: &[Located<T>], header: &[&str]) -> Table {
    match rows.iter().any(|r| r.account.is_some()) {
        true => Table::new(&[&["ACCOUNT", "REGION"], header].concat()),
        false => Table::new(header),
    }
}

/// A row's cells, after where it was read when that is shown.
pub(crate) fn where_read<T>(row: &Located<T>, cells: Vec<Cell>) -> Vec<Cell> {
    match (&row.account, &row.region) {
        (Some(account), Some(region)) => [vec![Cell::new(account), Cell::new(region)], cells].concat(),
        _ => cells,
    }
}

/// `2026-11-25T14:43:11.000Z` → `2026-11-25 14:43`: minutes are enough to tell builds apart in
/// a table; JSON keeps the full timestamp.
pub(crate) fn short_time(time: Option<&str>) -> String {
    match time {
        Some(t) if t.len() >= 16 => format!("{} {}", &t[..10], &t[11..16]),
        Some(t) => t.to_string(),
        None => "-".to_string(),
    }
}

/// An AMI's block device mappings, as `disks add` and `upload --register` show what they register.
pub(crate) fn mappings_table(mappings: &[Mapping]) -> Table {
    let mut table = Table::new(&["DEVICE", "FROM", "GiB", "TYPE", "IOPS", "MiB/s", "DELETE ON TERM."]);
    let text = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    for m in mappings {
        table.row(vec![
            Cell::new(&m.device),
            Cell::new(match (&m.snapshot_id, &m.virtual_name) {
                (Some(snapshot), _) => snapshot.clone(),
                (None, Some(virtual_name)) => virtual_name.clone(),
                (None, None) if m.no_device => "(suppressed)".into(),
                (None, None) => "(new empty volume)".into(),
            }),
            Cell::number(text(m.size_gib)),
            Cell::new(m.volume_type.as_deref().unwrap_or("-")),
            Cell::number(text(m.iops)),
            Cell::number(text(m.throughput)),
            Cell::new(m.delete_on_termination.map_or("-", |d| if d { "yes" } else { "no" })),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::show::testing::Plain;

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
        assert_eq!(counts::<Action>(&[], 0), "nothing to do");
    }

    #[test]
    fn an_applied_plan_shows_what_was_made_by_its_new_id() {
        let register = |id| change::Procedure::RegisterImage {
            id,
            name: "gio-node-xvdb".into(),
            parent: "ami-0".into(),
            why: "adds /dev/xvdb".into(),
        };
        let planned = register(change::Target::Planned("gio-node-xvdb".into()));
        let plan: change::Plan<(), change::Procedure> =
            change::Plan { actions: vec![planned], ..change::Plan::default() };
        let dry = plan_text(&plan, None, &Plain);
        assert!(
            dry.contains("register") && dry.contains("gio-node-xvdb") && !dry.contains("RESULT"),
            "{dry}"
        );
        let outcomes =
            [Outcome { action: register(change::Target::Made("ami-1".into())), status: Status::Done }];
        let applied = plan_text(&plan, Some(&outcomes), &Plain);
        assert!(applied.contains("ami-1 (gio-node-xvdb)") && applied.contains("done"), "{applied}");
    }
}
