//! Least privilege, proven: each command runs as an IAM user holding only the policy
//! `gio-ami iam-policy COMMAND` prints, against an emulator that enforces IAM (its requests must
//! be signed by the user's keys and allowed by its policy); and without any one of the actions
//! that policy grants, it fails naming that action (or, for an optional read, warns).
//!
//! Each story arranges its scene with the emulator's unchecked credentials first, then turns
//! enforcement on and runs the command: enforcement is per emulator, and each run has its own.

use crate::support::{self, run, Emulator, Run, REGION};
use serde_json::Value;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type Scene<'a> = Pin<Box<dyn Future<Output = Vec<String>> + 'a>>;

/// A command's story: the scene it runs in, and its command line there.
struct Story {
    verb: &'static str,
    /// The test's name for it, unique.
    name: &'static str,
    arrange: for<'a> fn(&'a Emulator, &'a Path) -> Scene<'a>,
    /// A build: the test plays its guest (powers the builder off) as an administrator.
    guest: bool,
}

/// The keys of an IAM user of the emulator, and its ARN.
struct Keys {
    id: String,
    secret: String,
    arn: String,
}

/// IAM users of the emulator, each holding its policy, made in one fixture call that then turns
/// IAM enforcement on: from here every request needs a user's keys.
fn enforced_with_users<const N: usize>(
    emulator: &Emulator,
    dir: &Path,
    users: [(&str, &Value); N],
) -> [Keys; N] {
    let mut args = vec!["iam-user".to_string()];
    for (name, policy) in users {
        let file = dir.join(format!("{name}-policy.json"));
        std::fs::write(&file, policy.to_string()).unwrap();
        args.extend(["--name".into(), name.into(), "--policy".into(), file.to_str().unwrap().into()]);
    }
    args.push("--enforce".into());
    let made = emulator.fixture(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let keys: Vec<Keys> = made
        .lines()
        .map(|line| {
            let made: Value = serde_json::from_str(line).unwrap();
            let field = |key: &str| made[key].as_str().unwrap().to_string();
            Keys { id: field("access_key_id"), secret: field("secret_access_key"), arn: field("arn") }
        })
        .collect();
    keys.try_into().unwrap_or_else(|_| panic!("one key per user: {made}"))
}

fn allow_all() -> Value {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
}

/// What `gio-ami iam-policy VERB` prints in `dir` (whose gio-ami.toml, if any, scopes it).
fn policy_of(verb: &str, dir: &Path) -> Value {
    run(support::bare_cli().current_dir(dir).args(["iam-policy", verb])).success().json()
}

/// A fresh directory for one run of a story.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = support::scratch(&format!("iam-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The story's scene, in a project whose gio-ami.toml is the scene's or else one without
/// `[accounts]` (a policy written without any spec also lets gio-ami assume roles, for a spec
/// given later with --spec).
async fn arrange(story: &Story, emulator: &Emulator, dir: &Path) -> Vec<String> {
    let args = (story.arrange)(emulator, dir).await;
    let spec = dir.join("gio-ami.toml");
    if !spec.exists() {
        std::fs::write(spec, support::spec("minimal")).unwrap();
    }
    args
}

/// Runs `story` in a fresh emulator as a user holding `policy` (the story's own when None),
/// and returns what the command said and the policy it ran under.
async fn run_story(story: &Story, run_name: &str, policy: impl FnOnce(Value) -> Value) -> (Run, Value) {
    let emulator = Emulator::start();
    let dir = fresh_dir(run_name);
    let args = arrange(story, &emulator, &dir).await;
    let policy = policy(policy_of(story.verb, &dir));
    // The runner's ARN is known before it exists: the role a scene made trusts it first.
    let trusted = format!("arn:aws:iam::{}:user/runner", support::ACCOUNT);
    hold_the_reader_policy(&emulator, &dir, &trusted);
    let [runner, admin] =
        enforced_with_users(&emulator, &dir, [("runner", &policy), ("admin", &allow_all())]);
    assert_eq!(runner.arn, trusted, "the user the roles trust");
    let mut command = emulator.cli();
    command
        .current_dir(&dir)
        .env("AWS_ACCESS_KEY_ID", &runner.id)
        .env("AWS_SECRET_ACCESS_KEY", &runner.secret)
        .args(&args);
    let ran = watched(&emulator, command, &admin, story.guest).await;
    (ran, policy)
}

/// The file a scene lists the `[accounts]` roles it made in, one ARN a line.
const ROLES: &str = "roles";

/// Each role the scene made holds what `gio-ami iam-policy --reader` prints, and trusts `caller`
/// as `gio-ami iam-policy --trust CALLER` says, as a consumer account's role would.
fn hold_the_reader_policy(emulator: &Emulator, dir: &Path, caller: &str) {
    let Ok(roles) = std::fs::read_to_string(dir.join(ROLES)) else { return };
    let mut documents = Vec::new();
    for (name, args) in [("reader", vec!["--reader"]), ("trust", vec!["--trust", caller])] {
        let document =
            run(support::bare_cli().current_dir(dir).arg("iam-policy").args(args)).success().json();
        let file = dir.join(format!("{name}-policy.json"));
        std::fs::write(&file, document.to_string()).unwrap();
        documents.push(file.to_str().unwrap().to_string());
    }
    let (reader, trust) = (&documents[0], &documents[1]);
    for role in roles.lines() {
        let (account_role, name) = role.split_once(":role/").unwrap();
        let admin = format!("{account_role}:role/OrganizationAccountAccessRole");
        emulator.fixture(&[
            "--as",
            &admin,
            "role-policy",
            "--name",
            name,
            "--policy",
            reader,
            "--trust",
            trust,
        ]);
    }
}

/// Runs the command to its end as the world around it would: the builder of a build powers off
/// (its guest, played by the administrator), and an image usage report the command waits for is
/// made ready by moving the emulator's clock past its pending minutes.
async fn watched(emulator: &Emulator, mut command: Command, admin: &Keys, guest: bool) -> Run {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let credentials = aws_credential_types::Credentials::new(&admin.id, &admin.secret, None, None, "admin");
    let config = emulator
        .config(REGION)
        .await
        .into_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
        .build();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let (mut powered_off, mut passed) = (!guest, std::collections::HashSet::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        if !powered_off {
            if let Some(builder) = support::running_builder_now(&ec2).await {
                ec2.stop_instances().instance_ids(builder).send().await.unwrap();
                powered_off = true;
            }
        }
        if let Some(report) = support::pending_usage_report(&ec2).await {
            if passed.insert(report) {
                emulator.advance_clock(support::REPORT_PENDING);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    support::finish(child)
}

/// Every action a policy grants, as (statement index, action).
fn granted(policy: &Value) -> Vec<(usize, String)> {
    let statements = policy["Statement"].as_array().unwrap();
    statements
        .iter()
        .enumerate()
        .flat_map(|(n, s)| {
            s["Action"].as_array().unwrap().iter().map(move |a| (n, a.as_str().unwrap().to_string()))
        })
        .collect()
}

/// `policy` without `action` in its statement `n` (and without that statement once empty).
fn without(mut policy: Value, n: usize, action: &str) -> Value {
    let statements = policy["Statement"].as_array_mut().unwrap();
    statements[n]["Action"].as_array_mut().unwrap().retain(|a| a != action);
    if statements[n]["Action"].as_array().unwrap().is_empty() {
        statements.remove(n);
    }
    if statements.is_empty() {
        // IAM refuses a policy without a statement; this one grants what every caller has anyway.
        statements
            .push(serde_json::json!({"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}));
    }
    policy
}

fn said(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

fn denied(text: &str) -> bool {
    ["UnauthorizedOperation", "AccessDenied", "not authorized", "access denied"]
        .iter()
        .any(|d| text.contains(d))
}

/// Each story succeeds under exactly its policy, and nothing it does is denied.
async fn runs_under_its_policy(stories: &[Story]) {
    for story in stories {
        let (ran, policy) = run_story(story, &format!("{}-all", story.name), |p| p).await;
        let ran = ran.success();
        assert!(!denied(&said(&ran)), "{} under {policy:#}:\n{}", story.name, said(&ran));
    }
}

/// Without each action of the verb's policy in turn, one of its stories fails naming it, or (an
/// optional read) succeeds saying what it could not read, naming it. Every action is tried, and every one that
/// no story needs is named at the end.
async fn needs_each_action(stories: &[Story]) {
    let first = &stories[0];
    let dir = fresh_dir(&format!("{}-policy", first.name));
    let emulator = Emulator::start();
    arrange(first, &emulator, &dir).await;
    let full = policy_of(first.verb, &dir);
    drop(emulator);
    let mut unneeded = Vec::new();
    for (n, action) in granted(&full) {
        let optional = full["Statement"][n]["Sid"].as_str().unwrap().starts_with("Optional");
        let mut tried = Vec::new();
        let mut needed = false;
        for story in stories {
            let run_name = format!("{}-{}", story.name, action.replace(':', "-"));
            let (ran, _) = run_story(story, &run_name, |p| without(p, n, &action)).await;
            let text = said(&ran);
            // Without an optional read the command says what it could not read, and goes on; a
            // guard refuses (a REFUSE row naming the look-up that failed) rather than fail.
            needed = if optional {
                ran.status.success() && text.contains(&action)
            } else {
                text.contains(&action) && (!ran.status.success() || ran.stdout.contains("REFUSE"))
            };
            if needed {
                break;
            }
            tried.push(format!("{}: {}", story.name, text.trim()));
        }
        if !needed {
            let kind =
                if optional { "optional (no warning naming it)" } else { "required (no failure naming it)" };
            unneeded.push(format!("{action}, {kind}:\n{}", tried.join("\n")));
        }
    }
    assert!(
        unneeded.is_empty(),
        "{}: actions none of its stories needs:\n{}",
        first.verb,
        unneeded.join("\n\n")
    );
}

/// The stories of each verb: `name: "verb" => [scene, ...]` (`scene(guest)` for a build).
macro_rules! stories {
    ($( $name:ident: $verb:literal => [$( $arrange:ident $(($guest:ident))? ),+], )*) => {
        $(
            fn $name() -> Vec<Story> {
                vec![$( Story {
                    verb: $verb,
                    name: stringify!($arrange),
                    arrange: |e, dir| Box::pin($arrange(e, dir)),
                    guest: false $( || stringify!($guest) == "guest" )?,
                } ),+]
            }
        )*
        mod under_its_policy {
            $( #[tokio::test] async fn $name() { super::runs_under_its_policy(&super::$name()).await; } )*
        }
        mod each_action_needed {
            $( #[tokio::test] async fn $name() { super::needs_each_action(&super::$name()).await; } )*
        }
    };
}

stories! {
    images: "images" => [a_release_listed],
    snapshots: "snapshots" => [a_release_s_snapshots],
    lineage: "lineage" => [a_release_s_lineage],
    base: "base" => [the_recommended_base],
    adopt: "adopt" => [an_ami_adopted],
    copy: "copy" => [a_release_copied],
    share: "share" => [a_release_shared],
    protect: "protect" => [a_release_protected, a_release_unprotected],
    disks: "disks" => [a_disk_added],
    upload: "upload" => [an_image_uploaded],
    download: "download" => [a_snapshot_downloaded],
    wipe: "wipe" => [a_release_wiped_beside_a_cluster],
    prune: "prune" => [old_releases_pruned, old_releases_disabled, old_releases_deprecated],
    enable: "enable" => [a_disabled_release_enabled],
    recycle_bin: "recycle-bin" => [a_retention_rule_made, a_retention_rule_changed],
    restore: "restore" => [a_wiped_release_restored],
    archive: "archive" => [a_release_archived, an_archive_run_again],
    unarchive: "unarchive" => [an_archive_restore_started, an_archive_registered_again],
    history: "history" => [the_history_of_clusters],
    publish: "publish" => [a_release_published, a_publication_rolled_back],
    promote: "promote" => [a_release_promoted, a_release_promoted_into_another_account_and_region],
    outdated: "outdated" => [a_cluster_behind],
    cost: "cost" => [the_cost_of_releases],
    gc: "gc" => [a_killed_build_collected],
    build: "build" => [a_native_build(guest), a_native_build_provisioned_through_ssm],
    offline_build: "build" => [an_offline_build],
    diff: "diff" => [two_releases_of_one_lineage_compared],
    packer: "packer" => [a_template_pinned],
}

// The scenes. Each returns the command line run in it.

async fn release(emulator: &Emulator, name: &str) -> String {
    support::tagged_release(&emulator.ec2().await, name).await.0
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_string()).collect()
}

/// tests/specs/valid/rollout.toml as `dir`'s gio-ami.toml: clusters staging, prod (promoted
/// from staging after 48 h, protected), far (another region) and blue.
fn rollout_project(dir: &Path) {
    std::fs::write(dir.join("gio-ami.toml"), support::spec("rollout")).unwrap();
}

fn gio(emulator: &Emulator, dir: &Path, words: &[&str]) -> Run {
    run(emulator.cli().current_dir(dir).args(words)).success()
}

async fn a_release_listed(emulator: &Emulator, _: &Path) -> Vec<String> {
    release(emulator, "gio-node-1").await;
    args(&["images"])
}

async fn a_release_s_snapshots(emulator: &Emulator, _: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    args(&["snapshots", &ami])
}

async fn a_release_s_lineage(emulator: &Emulator, _: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    args(&["lineage", &ami])
}

async fn the_recommended_base(_: &Emulator, _: &Path) -> Vec<String> {
    args(&["base", "--kubernetes", "1.31"])
}

async fn an_ami_adopted(emulator: &Emulator, _: &Path) -> Vec<String> {
    let ami = support::register_root_image(&emulator.ec2().await, "packer-made").await;
    args(&["adopt", &ami, "--contact", "ops@example.org"])
}

async fn a_release_copied(emulator: &Emulator, _: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    args(&["copy", &ami, "--to", "us-east-1"])
}

async fn a_release_shared(emulator: &Emulator, _: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    args(&["share", &ami, "--account", "210987654321", "--yes"])
}

async fn a_release_protected(emulator: &Emulator, _: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    args(&["protect", &ami, "--yes"])
}

async fn a_release_unprotected(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    gio(emulator, dir, &["protect", &ami, "--yes"]);
    args(&["protect", &ami, "--unprotect", "--yes"])
}

async fn a_disk_added(emulator: &Emulator, _: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    args(&["disks", "add", &ami, "--disk", "/dev/xvdc=10"])
}

async fn an_image_uploaded(_: &Emulator, dir: &Path) -> Vec<String> {
    let image = support::write_image(dir, "node.raw", 4 * support::BLOCK, &[0, 3]);
    args(&["upload", image.to_str().unwrap(), "--register", "--name", "gio-node-uploaded"])
}

async fn a_snapshot_downloaded(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let image = support::write_image(dir, "node.raw", 4 * support::BLOCK, &[0, 3]);
    let uploaded = gio(emulator, dir, &["upload", image.to_str().unwrap(), "--output", "json"]).json();
    let back = dir.join("back.raw");
    args(&["download", uploaded["snapshot_id"].as_str().unwrap(), back.to_str().unwrap()])
}

/// A release no one uses, beside a cluster whose nodegroup and node run another one, so that
/// every kind of use is looked up.
/// Old enough that an image usage report's zero counts (it may miss the last three days).
const SHARED_LONG_AGO: u32 = 4 * 24 * 3600;

async fn a_release_wiped_beside_a_cluster(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = {
        let _then = emulator.backdated(SHARED_LONG_AGO);
        release(emulator, "gio-node-old").await
    };
    in_a_busy_account(emulator, dir, &ami).await;
    args(&["wipe", &ami, "--yes"])
}

/// An account where every look-up of a guard finds something: a cluster whose nodegroup and node
/// run another release, a parameter holding it, a Recycle Bin rule; and `ami` shared with an
/// account gio-ami has no role in (an image usage report counts its use there).
async fn in_a_busy_account(emulator: &Emulator, dir: &Path, ami: &str) {
    let running = release(emulator, "gio-node-new").await;
    support::eks_nodegroup_running(emulator, "blue", &running).await;
    support::node_running(emulator, "blue", &running).await;
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    ssm.put_parameter()
        .name("/team/node-ami")
        .value(&running)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    gio(emulator, dir, &["recycle-bin", "--retain", "7d"]);
    gio(emulator, dir, &["share", ami, "--account", "210987654321", "--yes"]);
}

/// Three releases a second apart: prune keeps the newest.
/// Three releases a second apart, oldest first, made days ago.
async fn three_releases(emulator: &Emulator) -> Vec<String> {
    let ec2 = emulator.ec2().await;
    let mut made = Vec::new();
    for n in 1..=3 {
        let _then = emulator.backdated(SHARED_LONG_AGO + 3 - n);
        made.push(support::tagged_release(&ec2, &format!("gio-node-{n}")).await.0);
    }
    made
}

async fn old_releases_pruned(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let made = three_releases(emulator).await;
    in_a_busy_account(emulator, dir, &made[0]).await;
    args(&["prune", "--release-prefix", "gio-node-", "--keep", "1", "--yes"])
}

async fn old_releases_disabled(emulator: &Emulator, _: &Path) -> Vec<String> {
    three_releases(emulator).await;
    args(&["prune", "--release-prefix", "gio-node-", "--keep", "1", "--disable", "--yes"])
}

async fn old_releases_deprecated(emulator: &Emulator, _: &Path) -> Vec<String> {
    three_releases(emulator).await;
    args(&["prune", "--release-prefix", "gio-node-", "--keep", "1", "--deprecate", "--yes"])
}

/// A release prune disabled, taking the launch permission it had: enable gives both back.
async fn a_disabled_release_enabled(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let made = three_releases(emulator).await;
    gio(emulator, dir, &["share", &made[0], "--account", "210987654321", "--yes"]);
    let mut prune = emulator.cli();
    prune.current_dir(dir).args([
        "prune",
        "--release-prefix",
        "gio-node-",
        "--keep",
        "2",
        "--disable",
        "--yes",
    ]);
    support::run_past_usage_reports(emulator, &mut prune).await.success();
    args(&["enable", &made[0], "--yes"])
}

async fn a_retention_rule_made(_: &Emulator, _: &Path) -> Vec<String> {
    args(&["recycle-bin", "--retain", "7d"])
}

async fn a_retention_rule_changed(emulator: &Emulator, dir: &Path) -> Vec<String> {
    gio(emulator, dir, &["recycle-bin", "--retain", "7d"]);
    args(&["recycle-bin", "--retain", "14d"])
}

async fn a_wiped_release_restored(emulator: &Emulator, dir: &Path) -> Vec<String> {
    gio(emulator, dir, &["recycle-bin", "--retain", "7d"]);
    support::recycle_bin_active(emulator).await;
    let ami = release(emulator, "gio-node-1").await;
    gio(emulator, dir, &["wipe", &ami, "--yes"]);
    args(&["restore", &ami])
}

async fn a_release_archived(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = {
        let _then = emulator.backdated(SHARED_LONG_AGO);
        release(emulator, "gio-node-1").await
    };
    in_a_busy_account(emulator, dir, &ami).await;
    args(&["archive", &ami, "--yes"])
}

/// An archive run again once it is done (as after a crash): the AMI is found by its record.
async fn an_archive_run_again(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    gio(emulator, dir, &["archive", &ami, "--yes"]);
    args(&["archive", &ami, "--yes"])
}

async fn an_archive_restore_started(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    gio(emulator, dir, &["archive", &ami, "--yes"]);
    emulator.set_clock("7h");
    args(&["unarchive", &ami])
}

async fn an_archive_registered_again(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = release(emulator, "gio-node-1").await;
    gio(emulator, dir, &["archive", &ami, "--yes"]);
    emulator.set_clock("7h");
    gio(emulator, dir, &["unarchive", &ami]);
    emulator.set_clock("80h");
    args(&["unarchive", &ami])
}

/// A release adopted with its base, published to staging, and run there by a nodegroup.
async fn a_staging_release(emulator: &Emulator, dir: &Path) -> String {
    rollout_project(dir);
    let base = support::recommended_base(emulator).await;
    let ami = support::register_root_image(&emulator.ec2().await, "gio-node-a").await;
    gio(emulator, dir, &["adopt", &ami, "--author", "ana", "--base", &base]);
    support::eks_nodegroup_running(emulator, "staging", &ami).await;
    ami
}

async fn the_history_of_clusters(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = a_staging_release(emulator, dir).await;
    gio(emulator, dir, &["publish", &ami, "--cluster", "staging"]);
    args(&["history"])
}

async fn a_release_published(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = a_staging_release(emulator, dir).await;
    args(&["publish", &ami, "--cluster", "staging"])
}

async fn a_publication_rolled_back(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let first = a_staging_release(emulator, dir).await;
    let second = release(emulator, "gio-node-b").await;
    gio(emulator, dir, &["publish", &first, "--cluster", "staging"]);
    gio(emulator, dir, &["publish", &second, "--cluster", "staging"]);
    args(&["publish", "--rollback", "--cluster", "staging"])
}

async fn a_release_promoted(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = a_staging_release(emulator, dir).await;
    support::node_running(emulator, "staging", &ami).await;
    emulator.set_clock("-49h");
    gio(emulator, dir, &["publish", &ami, "--cluster", "staging"]);
    emulator.set_clock("0");
    args(&["promote", "--to", "prod", "--yes"])
}

/// A release promoted from staging into `far`, a cluster of another account in another region:
/// the owner copies it there, and grants that account its launch and its snapshots.
async fn a_release_promoted_into_another_account_and_region(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let made: Value = serde_json::from_str(&emulator.fixture(&[
        "accounts",
        "--count",
        "1",
        "--external-id",
        "gio-ami-tests",
    ]))
    .unwrap();
    let role = made[0]["role_arn"].as_str().unwrap();
    std::fs::write(dir.join(ROLES), role).unwrap();
    let spec = format!(
        "[image]\nname = \"n\"\n[base]\nami = \"ami-12345678\"\n\
         [accounts.build]\nregions = [\"{REGION}\"]\n[accounts.prod]\nrole_arn = \"{role}\"\nexternal_id = \"gio-ami-tests\"\n\
         [clusters.staging]\nregion = \"{REGION}\"\nssm_parameter = \"/gio/staging/node-ami\"\n\
         [clusters.far]\naccount = \"prod\"\nregion = \"us-east-1\"\nssm_parameter = \"/gio/far/node-ami\"\n\
         promote_from = \"staging\"\n"
    );
    std::fs::write(dir.join("gio-ami.toml"), spec).unwrap();
    let ami = release(emulator, "gio-node-1").await;
    gio(emulator, dir, &["publish", &ami, "--cluster", "staging"]);
    support::node_running(emulator, "staging", &ami).await;
    args(&["promote", "--to", "far", "--copy", "--yes"])
}

async fn a_cluster_behind(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = a_staging_release(emulator, dir).await;
    gio(emulator, dir, &["publish", &ami, "--cluster", "staging"]);
    args(&["outdated", "--cluster", "staging"])
}

/// Two releases whose roots are snapshots of one volume (EBS bills the second for the blocks
/// that changed), one of them run by a cluster.
async fn the_cost_of_releases(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let ami = a_staging_release(emulator, dir).await;
    gio(emulator, dir, &["publish", &ami, "--cluster", "staging"]);
    let ec2 = emulator.ec2().await;
    let volume = ec2.create_volume().availability_zone(format!("{REGION}a")).size(8).send().await.unwrap();
    let volume = volume.volume_id().unwrap();
    for n in 1..=2 {
        let snapshot = ec2.create_snapshot().volume_id(volume).send().await.unwrap();
        let snapshot = snapshot.snapshot_id().unwrap();
        let name = format!("gio-node-lineage-{n}");
        let image = support::register_image(&ec2, &name, &[("/dev/xvda", snapshot, 8)]).await;
        let release = aws_sdk_ec2::types::Tag::builder().key("gio-ami:release").value(&name).build();
        ec2.create_tags().resources(&image).resources(snapshot).tags(release).send().await.unwrap();
    }
    args(&["cost", "--exact"])
}

/// What a killed build left: its builder, an AMI it registered and a snapshot it took, tagged
/// with its build id and nothing that says it still lives.
async fn a_killed_build_collected(emulator: &Emulator, _: &Path) -> Vec<String> {
    use aws_sdk_ec2::types::Tag;
    let ec2 = emulator.ec2().await;
    let base = support::recommended_base(emulator).await;
    let reservation = ec2
        .run_instances()
        .image_id(&base)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let builder = reservation.instances()[0].instance_id().unwrap().to_string();
    let root = support::new_snapshot(&ec2, 8, "pre-snapshot").await;
    let image = support::register_image(&ec2, "gio-node-unfinished", &[("/dev/xvda", &root, 8)]).await;
    let loose = support::new_snapshot(&ec2, 8, "pre-snapshot").await;
    let build_id = Tag::builder().key("gio-ami:build-id").value("b-killed").build();
    ec2.create_tags()
        .resources(&builder)
        .resources(&root)
        .resources(&image)
        .resources(&loose)
        .tags(build_id)
        .send()
        .await
        .unwrap();
    let running = release(emulator, "gio-node-new").await;
    support::eks_nodegroup_running(emulator, "blue", &running).await;
    args(&["gc", "--yes"])
}

async fn a_native_build(_: &Emulator, dir: &Path) -> Vec<String> {
    std::fs::write(dir.join("provision.sh"), "#!/bin/bash\necho provisioning\n").unwrap();
    std::fs::write(dir.join("gio-ami.toml"), support::spec("native-build")).unwrap();
    args(&["build"])
}

async fn a_native_build_provisioned_through_ssm(emulator: &Emulator, dir: &Path) -> Vec<String> {
    emulator.fixture(&["instance-profile", "--name", "gio-ami-builder"]);
    std::fs::write(dir.join("provision.sh"), "#!/bin/bash\necho provisioning\n").unwrap();
    let spec = support::with_keys(
        &support::spec("native-build"),
        "build",
        "provision_via = \"ssm\"\niam_instance_profile = \"gio-ami-builder\"",
    );
    std::fs::write(dir.join("gio-ami.toml"), spec).unwrap();
    args(&["build"])
}

async fn an_offline_build(emulator: &Emulator, dir: &Path) -> Vec<String> {
    support::eks_base(emulator);
    std::fs::write(dir.join("provision.sh"), "#!/bin/sh\necho provisioning\n").unwrap();
    let spec = support::with_keys(&support::spec("native-build"), "build", "engine = \"offline\"");
    std::fs::write(dir.join("gio-ami.toml"), spec).unwrap();
    args(&["build"])
}

/// A real root uploaded, and a second one uploaded against it (one lineage): ListChangedBlocks
/// reads the second as its changes.
async fn two_releases_of_one_lineage_compared(emulator: &Emulator, dir: &Path) -> Vec<String> {
    let base = support::base_image();
    let first = gio(
        emulator,
        dir,
        &["upload", base.to_str().unwrap(), "--register", "--name", "root-a", "--output", "json"],
    );
    let first = first.success().json()["image_id"].as_str().unwrap().to_string();
    // A block of free space changed: the filesystem reads the same, the snapshot differs.
    let changed = dir.join("changed.raw");
    // Sparse, as the base is: a plain copy would write its 1 GiB of holes for every run.
    let copied = Command::new("cp").arg("--sparse=always").arg(&base).arg(&changed).status().unwrap();
    assert!(copied.success());
    let file = std::fs::OpenOptions::new().write(true).open(&changed).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &vec![0xab; support::BLOCK], 700 * support::BLOCK as u64)
        .unwrap();
    let upload =
        ["upload", changed.to_str().unwrap(), "--register", "--name", "root-b", "--parent-ami", &first];
    let second = gio(emulator, dir, &[&upload[..], &["--output", "json"]].concat()).success().json();
    args(&["diff", &first, second["image_id"].as_str().unwrap()])
}

async fn a_template_pinned(_: &Emulator, dir: &Path) -> Vec<String> {
    rollout_project(dir);
    args(&["packer", "render", "--resolve"])
}

/// An access denied names the action and the policy that grants it.
#[tokio::test]
async fn a_denied_call_names_its_action_and_the_policy_of_the_command() {
    let story = &wipe()[0];
    let (ran, _) = run_story(story, "denied-advice", |policy| {
        let (n, action) =
            granted(&policy).into_iter().find(|(_, a)| a == "ec2:DeregisterImage").expect("granted");
        without(policy, n, &action)
    })
    .await;
    let ran = ran.failure();
    assert!(ran.stderr.contains("ec2:DeregisterImage"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("`gio-ami iam-policy wipe` prints the least IAM policy `wipe` needs."),
        "{}",
        ran.stderr
    );
}
