//! Every verb's `--output json`, as it really prints against the emulator (applied, refused,
//! and in each of the shapes its flags choose), matches the JSON Schema `gio-ami schema --report
//! VERB` prints for it, closed: a field renamed, added or lost fails. Every verb with a report
//! is run here, so a new verb is tested the day it is registered.

use crate::support;

use serde_json::Value;
use std::path::PathBuf;
use support::reports::{assert_valid, validate};
use support::{
    bare_cli, node_running, recommended_base, register_root_image, run, write_image, Emulator, BLOCK,
};

const FRIEND: &str = "111122223333";
const OTHER_REGION: &str = "us-east-1";

/// The reports seen so far, by verb, each validated as it is printed.
struct Seen<'a> {
    emulator: &'a Emulator,
    /// Holds tests/specs/valid/rollout.toml as its gio-ami.toml.
    dir: PathBuf,
    /// Each report printed, by verb.
    reports: Vec<(String, Value)>,
}

impl Seen<'_> {
    /// `gio-ami ARGS --output json` in the project, which must succeed; `verb` is how `schema
    /// --report` names it. The emulator's clock moves past any image usage report it waits for.
    async fn json(&mut self, verb: &str, args: &[&str]) -> Value {
        let out = self.run(args).await.success();
        self.check(verb, &out.stdout)
    }

    /// The same for a run that is refused: its report still prints.
    async fn refused(&mut self, verb: &str, args: &[&str]) -> Value {
        let out = self.run(args).await.failure();
        self.check(verb, &out.stdout)
    }

    async fn run(&self, args: &[&str]) -> support::Run {
        let mut command = self.emulator.cli();
        command.current_dir(&self.dir).args(args).args(["--output", "json"]);
        support::run_past_usage_reports(self.emulator, &mut command).await
    }

    fn check(&mut self, verb: &str, document: &str) -> Value {
        assert_valid(verb, document);
        let report: Value = serde_json::from_str(document).unwrap();
        self.reports.push((verb.to_string(), report.clone()));
        report
    }
}

fn project(name: &str, spec: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("reports-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gio-ami.toml"), support::spec(spec)).unwrap();
    std::fs::write(dir.join("provision.sh"), "#!/bin/sh\necho provisioning\n").unwrap();
    dir
}

/// What reads and writes nothing in AWS: check, packer render, base, build's plan.
async fn offline_and_planned(seen: &mut Seen<'_>) {
    let build = project("build", "dry-run-build");
    let spec = build.join("gio-ami.toml");
    let offline = |args: &[&str]| run(bare_cli().args(args).args(["--output", "json"])).success().stdout;
    seen.check("check", &offline(&["check", spec.to_str().unwrap()]));
    let out = build.join("packer");
    std::fs::create_dir_all(&out).unwrap();
    let rendered = offline(&["packer", "render", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    seen.check("packer render", &rendered);
    seen.check("iam-policy", &offline(&["iam-policy", "wipe", "--spec", spec.to_str().unwrap()]));
    seen.json("base", &["base", "--kubernetes", "1.31", "--family", "al2023"]).await;
    let dir = std::mem::replace(&mut seen.dir, build);
    seen.json("build", &["build", "--dry-run"]).await;
    seen.dir = dir;
}

/// Upload (applied: its counts at the top), download, disks add, adopt, and the read verbs on
/// what they made. Returns the uploaded AMI.
async fn made_and_read(seen: &mut Seen<'_>) -> String {
    let image = write_image(&seen.dir, "report.raw", 2 * BLOCK, &[0]);
    let upload = ["upload", image.to_str().unwrap(), "--register", "--name", "gio-node-report"];
    let uploaded = seen.json("upload", &upload).await;
    let (ami, snapshot) = (uploaded["image_id"].as_str().unwrap(), uploaded["snapshot_id"].as_str().unwrap());
    let back = seen.dir.join("back.raw");
    seen.json("download", &["download", snapshot, back.to_str().unwrap()]).await;
    let base = recommended_base(seen.emulator).await;
    seen.json("adopt", &["adopt", ami, "--author", "ana", "--base", &base]).await;
    let added = seen.json("disks add", &["disks", "add", ami, "--disk", "/dev/xvdb=5"]).await;
    let derived = added["outcomes"][0]["id"].as_str().unwrap().to_string();
    seen.json("lineage", &["lineage", &derived]).await;
    seen.json("images", &["images"]).await;
    seen.json("snapshots", &["snapshots", ami]).await;
    support::new_snapshot(&seen.emulator.ec2().await, 1, "an orphan").await;
    seen.json("snapshots", &["snapshots", "--orphans"]).await;
    seen.json("cost", &["cost"]).await;
    // Two releases of one real root (a filesystem libguestfs can read), compared.
    let base = support::base_image();
    let roots: Vec<String> = uploaded_twice(seen, &base).await;
    seen.json("diff", &["diff", &roots[0], &roots[1]]).await;
    seen.json("cache list", &["cache", "list"]).await;
    seen.json("cache prune", &["cache", "prune", "--all", "--dry-run"]).await;
    seen.json("wipe", &["wipe", &derived, "--yes"]).await;
    ami.to_string()
}

/// `base` uploaded twice as AMIs of its own: the ids.
async fn uploaded_twice(seen: &mut Seen<'_>, base: &std::path::Path) -> Vec<String> {
    let mut ids = Vec::new();
    for name in ["report-root-a", "report-root-b"] {
        let uploaded =
            seen.run(&["upload", base.to_str().unwrap(), "--register", "--name", name]).await.success();
        ids.push(uploaded.json()["image_id"].as_str().unwrap().to_string());
    }
    ids
}

/// Publish to staging two days ago, promote to prod, then what the clusters run.
async fn rolled_out(seen: &mut Seen<'_>, ami: &str) {
    node_running(seen.emulator, "staging", ami).await;
    seen.emulator.fixture(&["clock", "--offset=-49h"]);
    seen.json("publish", &["publish", ami, "--cluster", "staging"]).await;
    seen.emulator.fixture(&["clock", "--offset=0"]);
    seen.json("promote", &["promote", "--to", "prod"]).await;
    seen.refused("promote", &["promote", "--to", "prod"]).await;
    seen.json("outdated", &["outdated"]).await;
    seen.json("history", &["history"]).await;
    let readme = seen.dir.join("README.md");
    std::fs::write(&readme, "<!-- gio-ami:history:begin -->\n<!-- gio-ami:history:end -->\n").unwrap();
    seen.json("history", &["history", "--update", readme.to_str().unwrap()]).await;
}

/// Sharing, protection, lifecycle stages and retention, each applied on AMIs of their own.
async fn changed(seen: &mut Seen<'_>) {
    let ec2 = seen.emulator.ec2().await;
    let shared = register_root_image(&ec2, "report-share").await;
    seen.json("share", &["share", &shared, "--account", FRIEND]).await;
    seen.json("protect", &["protect", &shared]).await;
    seen.refused("wipe", &["wipe", &shared, "--yes"]).await;
    seen.json("protect", &["protect", &shared, "--unprotect", "--yes"]).await;
    seen.json("copy", &["copy", &shared, "--to", OTHER_REGION]).await;
    register_root_image(&ec2, "report-prune-1").await;
    register_root_image(&ec2, "report-prune-2").await;
    let pruned = seen
        .json("prune", &["prune", "--release-prefix", "report-prune-", "--keep", "1", "--disable", "--yes"])
        .await;
    let disabled = pruned["outcomes"][0]["id"].as_str().unwrap().to_string();
    seen.json("enable", &["enable", &disabled, "--yes"]).await;
    seen.json("gc", &["gc", "--yes"]).await;
    let (archived, _) = support::tagged_release(&ec2, "report-archive").await;
    seen.json("archive", &["archive", &archived, "--yes"]).await;
    seen.json("unarchive", &["unarchive", &archived]).await;
    let (wiped, _) = support::tagged_release(&ec2, "report-restore").await;
    // The rule becomes active 30 minutes after it is made, by the clock that the waits for
    // usage reports above moved on: from 0 (`recycle_bin_active` sets it to 31 minutes).
    seen.emulator.fixture(&["clock", "--offset=0"]);
    seen.json("recycle-bin", &["recycle-bin", "--retain", "7d"]).await;
    support::recycle_bin_active(seen.emulator).await;
    seen.json("wipe", &["wipe", &wiped, "--yes"]).await;
    seen.json("restore", &["restore", &wiped]).await;
}

#[tokio::test]
async fn every_verbs_json_matches_its_report_schema() {
    let emulator = Emulator::start();
    let mut seen = Seen { emulator: &emulator, dir: project("rollout", "rollout"), reports: Vec::new() };
    offline_and_planned(&mut seen).await;
    let ami = made_and_read(&mut seen).await;
    rolled_out(&mut seen, &ami).await;
    changed(&mut seen).await;
    let unseen: Vec<String> = gio_ami::commands::json::names(&gio_ami::commands::reports())
        .into_iter()
        .filter(|verb| !seen.reports.iter().any(|(seen, _)| seen == verb))
        .collect();
    assert!(unseen.is_empty(), "no real report checked for {unseen:?}");
    for (verb, report) in &seen.reports {
        if let Some((renamed, field)) = first_field_renamed(report) {
            assert!(
                validate(verb, &renamed.to_string()).is_err(),
                "{verb}: its report with {field} renamed matched"
            );
        }
    }
    let wiped = seen.reports.iter().find(|(verb, report)| verb == "wipe" && report["applied"] == true);
    renamed_fields_do_not_match(&wiped.expect("a wipe was applied").1);
}

/// `report` with its first field (the first object's, going down into lists) renamed, and the
/// field's name; None for a report without any (an empty list).
fn first_field_renamed(report: &Value) -> Option<(Value, String)> {
    match report {
        Value::Object(fields) => {
            let (name, value) = fields.iter().next()?;
            let mut renamed = fields.clone();
            renamed.remove(name);
            renamed.insert(format!("{name}_renamed"), value.clone());
            Some((Value::Object(renamed), name.clone()))
        }
        Value::Array(items) => {
            let (first, field) = first_field_renamed(items.first()?)?;
            Some((Value::Array([vec![first], items[1..].to_vec()].concat()), field))
        }
        _ => None,
    }
}

/// The check can fail: the applied wipe's report, with a field renamed at the top, in an
/// action, in an outcome, in the counts, or its verb's own facts, does not match.
fn renamed_fields_do_not_match(report: &Value) {
    let text = serde_json::to_string(report).unwrap();
    validate("wipe", &text).unwrap_or_else(|e| panic!("the original must match: {e}"));
    let renamed = [
        ("\"applied\"", "\"done\""),
        ("\"why\"", "\"reason\""),
        ("\"status\"", "\"state\""),
        ("\"freed_gib\"", "\"freed\""),
        ("\"already_gone\"", "\"gone\""),
        ("\"deregister_image\"", "\"deregister\""),
    ];
    for (from, to) in renamed {
        assert!(text.contains(from), "{from} is not in {text}");
        let error =
            validate("wipe", &text.replacen(from, to, 1)).expect_err(&format!("{from} renamed {to} matched"));
        assert!(!error.is_empty());
    }
    let facts = report["plan"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| !["actions", "warnings", "freed_gib"].contains(&k.as_str()));
    let fact = facts.expect("wipe's plan has facts of its own");
    let moved = text.replacen(&format!("\"{fact}\""), &format!("\"{fact}_renamed\""), 1);
    assert!(validate("wipe", &moved).is_err(), "the plan's fact {fact} renamed matched");
}

#[test]
fn schema_report_names_what_it_cannot_describe() {
    let unknown = run(bare_cli().args(["schema", "--report", "wipes"])).failure();
    assert!(unknown.stderr.contains("`wipes` is not a verb with JSON output"), "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("recycle-bin") && unknown.stderr.contains("disks add"),
        "{}",
        unknown.stderr
    );
    let man = run(bare_cli().args(["schema", "--report", "man"])).failure();
    assert!(man.stderr.contains("prints no JSON (it writes man pages)"), "{}", man.stderr);
    let disks = run(bare_cli().args(["schema", "--report", "disks"])).success().json();
    assert_eq!(
        disks["title"], "gio-ami disks add --output json",
        "a group of one answers for its subcommand"
    );
    let spec = run(bare_cli().args(["schema"])).success().json();
    assert!(spec["properties"].get("image").is_some(), "without --report, the spec's schema: {spec}");
}

/// Each schema is whole: every `$ref` it holds points into its own `$defs`.
#[test]
fn every_report_schema_is_self_contained() {
    for verb in gio_ami::commands::json::names(&gio_ami::commands::reports()) {
        let printed = run(bare_cli().args(["schema", "--report"]).args(verb.split(' '))).success().stdout;
        let defs: Vec<String> = serde_json::from_str::<Value>(&printed).unwrap()["$defs"]
            .as_object()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        for reference in printed.split("\"$ref\": \"#/$defs/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(defs.iter().any(|d| d == name), "{verb}: $ref to {name}, not in $defs");
        }
    }
}
