//! The one path of every mutating verb once its plan is made: shown (a dry run stops there),
//! confirmed when it deletes, applied, reported, and failed when a step failed.

use super::shown::{Made, Own, PlanShown, Shown};
use super::Context;
use crate::change::{self, Applied, Planned, Report};
use crate::{Aws, Error, Result};
use serde::Serialize;
use std::future::Future;

/// The closing line of a plan that had nothing to apply, or was stopped.
pub const NOTHING_CHANGED: &str = "nothing was changed.";

/// How a mutating verb was asked to run.
pub struct Mode {
    /// The verb, for errors.
    pub command: &'static str,
    pub dry_run: bool,
    pub yes: bool,
    /// Deletes or takes away something: asks on a terminal before it applies.
    pub destructive: bool,
    /// What a dry run did not do, in a word: "nothing was {what}".
    pub what: &'static str,
    /// The plan's facts also go at the top of the JSON, where scripts read them before the
    /// shared shape (publish's `ami`, adopt's `adopted`).
    pub facts_on_top: bool,
}

impl Mode {
    /// A verb that only adds or changes: it never asks.
    pub fn adding(command: &'static str, dry_run: bool, what: &'static str) -> Mode {
        Mode { command, dry_run, yes: true, destructive: false, what, facts_on_top: false }
    }

    /// A verb that takes something away: it asks on a terminal unless `--yes`.
    pub fn taking(command: &'static str, apply: &super::Apply, what: &'static str) -> Mode {
        Mode { command, dry_run: apply.dry_run, yes: apply.yes, destructive: true, what, facts_on_top: false }
    }

    pub fn facts_on_top(self) -> Mode {
        Mode { facts_on_top: true, ..self }
    }
}

/// A dry run (or nothing to apply) prints the plan; a destructive plan asks on a terminal
/// unless --yes; then `apply` runs, every outcome is printed with `own` and what the apply
/// made, and a failed step fails the verb, named.
pub async fn execute<F, S, R, Fut>(
    ctx: &Context<'_>,
    aws: &Aws,
    plan: &change::Plan<F, S>,
    mode: &Mode,
    own: Own,
    apply: impl FnOnce() -> Fut,
) -> Result<()>
where
    F: Serialize,
    S: Serialize + Planned,
    R: Made,
    Fut: Future<Output = Result<Applied<R, S>>>,
{
    let own = if mode.facts_on_top { own.with_top(&plan.facts)? } else { own };
    let unapplied =
        |note: &str| ctx.ui.show(&Shown { report: &Report::new(plan, None), own: &own, unapplied: note });
    if mode.dry_run {
        return Ok(unapplied(&format!("dry run: nothing was {}.", mode.what))?);
    }
    if !plan.applies() {
        return Ok(unapplied(NOTHING_CHANGED)?);
    }
    if mode.destructive && !mode.yes && ctx.ui.can_ask() {
        ctx.ui.show(&PlanShown(plan))?;
        if !ctx.ui.confirm("Go ahead as planned? [y/N] ").await? {
            return Err(Error::NotConfirmed(mode.command));
        }
    }
    let applied = apply().await?;
    tracing::info!(requests = aws.calls(), "plan applied");
    let report = Report::new(plan, Some(&applied.outcomes));
    let own = applied.made.own(own)?;
    ctx.ui.show(&Shown { report: &report, own: &own, unapplied: NOTHING_CHANGED })?;
    match report.failure(mode.command) {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// Prints a plan that must not run, and fails with why.
pub fn refuse<F: Serialize, S: Serialize + Planned>(
    ctx: &Context<'_>,
    plan: &change::Plan<F, S>,
    why: Error,
    own: Own,
) -> Result<()> {
    ctx.ui.show(&Shown { report: &Report::new(plan, None), own: &own, unapplied: NOTHING_CHANGED })?;
    Err(why)
}

/// Parses every argument before any AWS call, so a typo costs nothing.
pub fn parse_all<T>(inputs: &[String]) -> Result<Vec<T>>
where
    T: std::str::FromStr,
    Error: From<T::Err>,
{
    inputs.iter().map(|s| Ok(s.parse()?)).collect()
}

/// The whole path of a verb that plans on the account's own AMIs named on the command line and
/// applies through `change::apply` (protect, enable).
pub async fn on_own_images<F: Serialize>(
    ctx: &Context<'_>,
    targets: &super::Targets,
    mode: &Mode,
    plan: impl FnOnce(&[crate::aws::inventory::Image]) -> change::Plan<F>,
) -> Result<()> {
    let aws = Aws::connect(&ctx.options).await?;
    let amis = targets.resolve(&aws).await?;
    let plan = plan(&crate::aws::inventory::own_images_by_id(&aws, &amis).await?);
    execute(ctx, &aws, &plan, mode, Own::default(), || async {
        Ok(change::apply(&aws, &plan.actions).await.into())
    })
    .await
}

impl super::Targets {
    /// The AMIs named (parsed before any AWS call, so a typo costs nothing) and, with
    /// `--release`, every AMI of that release in `aws`'s region.
    pub async fn resolve(&self, aws: &Aws) -> Result<Vec<crate::core::ids::AmiId>> {
        let amis = parse_all::<crate::core::ids::AmiId>(&self.amis)?;
        crate::aws::inventory::own_ids(aws, amis, self.release.as_deref()).await
    }
}

/// Writes a file a verb makes (a spec, a template), naming it when it cannot.
pub fn write(path: &std::path::Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| Error::Write { path: path.display().to_string(), detail: e.to_string() })
}
