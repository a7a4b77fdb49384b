//! What builds leave behind when they die (kill -9, a lost laptop lid): builder instances,
//! pre-snapshots, half-made AMIs. Everything a build creates carries its `gio-ami:build-id`, and
//! its builder instance says where the build runs and until when, so a dead build's leftovers
//! can be told from a live build's work.

use crate::aws::inventory::{self, Image, InstanceState, Snapshot};
use crate::aws::usage::{self, Usage};
use crate::aws::Aws;
use crate::change::{self, Action, Kind, Outcome};
use crate::core::error::Service;
use crate::core::ids::InstanceId;
use crate::core::kinds::Reported;
use crate::core::tags;
use crate::error::Result;
use aws_sdk_ec2::types::Filter;
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};

/// A builder instance and what its tags say about the build that owns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Builder {
    pub id: String,
    pub state: Reported<InstanceState>,
    pub build_id: String,
    pub host: Option<String>,
    pub pid: Option<u32>,
    /// Seconds since the epoch after which the build has certainly given up.
    pub deadline: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct Leftovers {
    pub builders: Vec<Builder>,
    /// Every AMI of the account: build AMIs are judged by their tags, and all are needed to
    /// know which snapshots are still mapped.
    pub images: Vec<Image>,
    /// Snapshots carrying a build id.
    pub snapshots: Vec<Snapshot>,
}

/// Whether a process is running, as far as this machine can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Alive,
    Gone,
    /// The question has no answer here (a pid no process can have, a check the system refused).
    Unknown,
}

/// How to tell a live build from a dead one, from this machine.
pub struct Liveness<'a> {
    /// None when this machine's name cannot be read: then no build is known to be ours.
    pub host: Option<&'a str>,
    pub now: i64,
    pub process: &'a dyn Fn(u32) -> Process,
}

impl Liveness<'_> {
    fn is_live(&self, builder: &Builder) -> bool {
        !builder.state.is_ending() && self.runs(builder.host.as_deref(), builder.pid, builder.deadline)
    }

    /// Whether the build that tagged a snapshot it uploads (the offline engine: no instance) runs.
    fn uploads(&self, snapshot: &Snapshot) -> bool {
        let tag = |key: &str| snapshot.tags.get(key).map(String::as_str);
        let pid = tag(tags::BUILD_PID).and_then(|p| p.parse().ok());
        let deadline = tag(tags::BUILD_DEADLINE).and_then(|d| d.parse().ok());
        (pid.is_some() || deadline.is_some()) && self.runs(tag(tags::BUILD_HOST), pid, deadline)
    }

    fn runs(&self, host: Option<&str>, pid: Option<u32>, deadline: Option<i64>) -> bool {
        let ours = host.is_some() && host == self.host;
        let process = match pid {
            Some(pid) if ours => (self.process)(pid),
            _ => Process::Unknown,
        };
        match (process, deadline) {
            // Our own machine: the process table is the truth.
            (Process::Alive, _) => true,
            (Process::Gone, _) => false,
            // Another machine, or no answer here: trust the build until its deadline, after
            // which it has given up whatever became of its process.
            (Process::Unknown, Some(deadline)) => self.now < deadline,
            (Process::Unknown, None) => false,
        }
    }
}

/// Reads every resource carrying a build id, plus all AMIs (to know which snapshots are mapped).
pub async fn leftovers(aws: &Aws, build: Option<&str>) -> Result<Leftovers> {
    let filter = match build {
        Some(id) => Filter::builder().name(format!("tag:{}", tags::BUILD_ID)).values(id).build(),
        None => Filter::builder().name("tag-key").values(tags::BUILD_ID).build(),
    };
    let instances = async {
        let mut pages = aws.ec2().describe_instances().filters(filter.clone()).into_paginator().send();
        let mut builders = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws.error("DescribeInstances", Service::Ec2, e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                builders.push(builder(instance));
            }
        }
        Ok::<_, crate::Error>(builders)
    };
    let (builders, images, snapshots) = futures::try_join!(
        instances,
        inventory::own_images(aws),
        inventory::own_snapshots_matching(aws, vec![filter.clone()])
    )?;
    Ok(Leftovers { builders, images, snapshots })
}

fn builder(instance: &aws_sdk_ec2::types::Instance) -> Builder {
    let tag = |key: &str| {
        instance.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string)
    };
    Builder {
        id: instance.instance_id().unwrap_or_default().to_string(),
        state: instance.state().and_then(|s| s.name()).map(Reported::from).unwrap_or_default(),
        build_id: tag(tags::BUILD_ID).unwrap_or_default(),
        host: tag(tags::BUILD_HOST),
        pid: tag(tags::BUILD_PID).and_then(|p| p.parse().ok()),
        deadline: tag(tags::BUILD_DEADLINE).and_then(|d| d.parse().ok()),
    }
}

/// The clean-up plan. A build is dead unless one of its builders is live; with `only` set, that
/// build is cleaned whatever its state (it is the caller's own failed build).
pub fn plan(
    leftovers: &Leftovers,
    liveness: &Liveness<'_>,
    only: Option<&str>,
    usage: &Usage,
) -> Vec<Action> {
    let uploading = leftovers.snapshots.iter().filter(|s| liveness.uploads(s));
    let live: BTreeSet<&str> = leftovers
        .builders
        .iter()
        .filter(|b| liveness.is_live(b))
        .map(|b| b.build_id.as_str())
        .chain(uploading.filter_map(|s| s.tags.get(tags::BUILD_ID).map(String::as_str)))
        .filter(|build| Some(*build) != only)
        .collect();
    let dead = |build: Option<&String>| match build {
        Some(id) => only.is_none_or(|o| o == id) && !live.contains(id.as_str()),
        None => false,
    };

    let mut actions = Vec::new();
    for b in &leftovers.builders {
        if b.state == InstanceState::Terminated || only.is_some_and(|o| o != b.build_id) {
            continue;
        }
        if live.contains(b.build_id.as_str()) {
            actions.push(Action::Refuse {
                id: b.id.clone(),
                kind: Kind::Instance,
                why: format!("build {} is still running", b.build_id),
            });
        } else if b.state != InstanceState::ShuttingDown {
            actions.push(Action::TerminateInstance {
                id: InstanceId::from_aws(&b.id),
                why: format!("builder of dead build {}", b.build_id),
            });
        }
    }
    // A build's AMI becomes a release (gets its release tag) as the build's last step; one
    // without it is unfinished, whatever its state.
    let unfinished: HashSet<&str> = leftovers
        .images
        .iter()
        .filter(|i| dead(i.tags.get(tags::BUILD_ID)) && i.release().is_none())
        .map(|i| i.id.as_str())
        .collect();
    // Unfinished or not, an AMI something launches from (or might: a failed look-up) stays, with
    // its snapshots: the wipe guard's rule.
    let mut going = HashSet::new();
    for image in leftovers.images.iter().filter(|i| unfinished.contains(i.id.as_str())) {
        let reasons = usage.reasons(image.id.as_str());
        if reasons.is_empty() {
            going.insert(image.id.as_str());
            actions.push(Action::DeregisterImage {
                id: image.id.clone(),
                name: image.name.clone(),
                why: format!("unfinished AMI of dead build {}", image.tags[tags::BUILD_ID]),
            });
        } else {
            actions.push(Action::Refuse {
                id: image.id.to_string(),
                kind: Kind::Image,
                why: reasons.join("; "),
            });
        }
    }
    let mapped: HashSet<&str> = leftovers
        .images
        .iter()
        .filter(|i| !going.contains(i.id.as_str()))
        .flat_map(Image::snapshot_ids)
        .collect();
    for snapshot in &leftovers.snapshots {
        let build = snapshot.tags.get(tags::BUILD_ID);
        if dead(build) && !mapped.contains(snapshot.id.as_str()) {
            actions.push(Action::DeleteSnapshot {
                id: snapshot.id.clone(),
                size_gib: snapshot.size_gib,
                why: format!("left by dead build {}", build.map_or("?", String::as_str)),
            });
        }
    }
    actions
}

/// This machine's name, as builds record it; None when the system does not say (then a build
/// records no host, and no machine mistakes it for its own).
pub fn this_host() -> Option<String> {
    let name = rustix::system::uname().nodename().to_string_lossy().into_owned();
    Some(name).filter(|n| !n.is_empty())
}

/// Asks the kernel with signal 0, which checks for the process without touching it (POSIX, so
/// the same on Linux and macOS).
pub fn process(pid: u32) -> Process {
    // 0 and negative pids name process groups, not a process.
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return Process::Unknown;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => Process::Alive,
        Err(rustix::io::Errno::SRCH) => Process::Gone,
        // It exists, and belongs to another user.
        Err(rustix::io::Errno::PERM) => Process::Alive,
        Err(_) => Process::Unknown,
    }
}

/// The plan of `gc`: the leftovers of every dead build, and who uses the unfinished AMIs
/// among them (someone may have launched one before its build died), read first.
pub async fn prepare(aws: &Aws) -> Result<change::Plan> {
    let leftovers = leftovers(aws, None).await?;
    let host = this_host();
    // One view of which builds live, for both passes: the second differs only by what is in use.
    let liveness = here(host.as_deref());
    let unguarded = plan(&leftovers, &liveness, None, &Usage::default());
    let amis: Vec<String> = unguarded
        .iter()
        .filter(|a| matches!(a, Action::DeregisterImage { .. }))
        .map(|a| a.id().to_string())
        .collect();
    if amis.is_empty() {
        return Ok(change::Plan { actions: unguarded, ..change::Plan::default() });
    }
    let usage = usage::observe(aws, &amis).await.usage(&amis.iter().map(String::as_str).collect());
    Ok(change::Plan {
        actions: plan(&leftovers, &liveness, None, &usage),
        warnings: change::retire::usage_warnings(&usage),
        ..change::Plan::default()
    })
}

/// Removes what the named build left (its own clean-up, after a failure or once the release
/// is made). Its unfinished AMI was never handed to anyone: no use to look for.
///
/// `release`: the AMI the build just made its release, and its name. The release tag went on
/// moments ago, and EC2 may not show it yet (tags lag: "the result of an API command ... might
/// not be immediately visible", <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>):
/// what this run wrote counts over a stale read, so the release is never taken for an
/// unfinished AMI to deregister.
pub async fn clean(aws: &Aws, build: &str, release: Option<(&str, &str)>) -> Result<Vec<Outcome>> {
    let mut leftovers = leftovers(aws, Some(build)).await?;
    if let Some((ami, name)) = release {
        for image in leftovers.images.iter_mut().filter(|i| i.id == ami) {
            image.tags.entry(tags::RELEASE.to_string()).or_insert_with(|| name.to_string());
        }
    }
    let host = this_host();
    Ok(change::apply(aws, &plan(&leftovers, &here(host.as_deref()), Some(build), &Usage::default())).await)
}

/// How many times a build tries to remove what it made before leaving it to `gc`: a builder
/// and its snapshots are billed until someone does, and the SDK's five attempts per call still
/// lose about one call in thirty when half of the requests fail (throttling storms do that).
const CLEAN_PASSES: usize = 3;

/// `clean`, passed again (after a pause) while a listing or a removal failed, at most
/// CLEAN_PASSES times. What earlier passes removed stays in the outcomes; what they failed to
/// remove is judged by the pass after.
pub async fn clean_persistently(
    aws: &Aws,
    build: &str,
    release: Option<(&str, &str)>,
) -> Result<Vec<Outcome>> {
    let (mut removed, mut pass) = (Vec::new(), 1);
    loop {
        let outcomes = clean(aws, build, release).await;
        let finished = matches!(&outcomes, Ok(o) if change::succeeded(o));
        if finished || pass == CLEAN_PASSES {
            return outcomes.map(|o| [removed, o].concat());
        }
        if let Ok(o) = outcomes {
            removed.extend(o.into_iter().filter(|o| change::succeeded(std::slice::from_ref(o))));
        }
        pass += 1;
        tokio::time::sleep(crate::core::poll::LOCAL_CHANGE).await;
    }
}

/// Liveness as seen from this machine (named `host`), now.
fn here(host: Option<&str>) -> Liveness<'_> {
    Liveness { host, now: crate::core::clock::now_epoch(), process: &process }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    fn builder(id: &str, build: &str, state: &str, host: &str, pid: u32, deadline: i64) -> Builder {
        Builder {
            id: id.into(),
            state: state.into(),
            build_id: build.into(),
            host: Some(host.into()),
            pid: Some(pid),
            deadline: Some(deadline),
        }
    }

    fn snapshot(id: &str, build: &str) -> Snapshot {
        let mut snapshot = inventory::tests::snapshot(id, 8);
        snapshot.tags.insert(tags::BUILD_ID.to_string(), build.to_string());
        snapshot
    }

    fn build_image(id: &str, build: &str, snapshot: &str, release: bool) -> Image {
        let mut image = image(id, "2026-01-01", &[("/dev/xvda", snapshot, 8)]);
        image.tags.insert(tags::BUILD_ID.into(), build.into());
        if release {
            image.tags.insert(tags::RELEASE.into(), "r".into());
        }
        image
    }

    const NOW: i64 = 1_000;
    fn alive_pids(pid: u32) -> Process {
        if pid == 42 {
            Process::Alive
        } else {
            Process::Gone
        }
    }
    fn here() -> Liveness<'static> {
        Liveness { host: Some("here"), now: NOW, process: &alive_pids }
    }

    fn ids(actions: &[Action], kind: fn(&Action) -> bool) -> Vec<&str> {
        actions.iter().filter(|a| kind(a)).map(Action::id).collect()
    }

    #[test]
    fn a_killed_build_on_this_host_is_cleaned_entirely() {
        let leftovers = Leftovers {
            builders: vec![builder("i-1", "b1", "stopped", "here", 7, NOW + 999)],
            images: vec![build_image("ami-1", "b1", "snap-ami", false)],
            snapshots: vec![snapshot("snap-pre", "b1"), snapshot("snap-ami", "b1")],
        };
        let actions = plan(&leftovers, &here(), None, &Usage::default());
        assert_eq!(ids(&actions, |a| matches!(a, Action::TerminateInstance { .. })), ["i-1"]);
        assert_eq!(ids(&actions, |a| matches!(a, Action::DeregisterImage { .. })), ["ami-1"]);
        assert_eq!(ids(&actions, |a| matches!(a, Action::DeleteSnapshot { .. })), ["snap-pre", "snap-ami"]);
    }

    #[test]
    fn a_live_build_is_left_alone_and_named() {
        let leftovers = Leftovers {
            builders: vec![
                builder("i-1", "b1", "running", "here", 42, 0),
                builder("i-2", "b2", "running", "elsewhere", 42, NOW + 60),
            ],
            images: vec![],
            snapshots: vec![snapshot("snap-pre", "b1")],
        };
        let actions = plan(&leftovers, &here(), None, &Usage::default());
        assert_eq!(ids(&actions, |a| matches!(a, Action::Refuse { .. })), ["i-1", "i-2"]);
        assert_eq!(actions.len(), 2, "no deletion: {actions:?}");
    }

    #[test]
    fn another_hosts_build_is_dead_after_its_deadline() {
        let leftovers = Leftovers {
            builders: vec![builder("i-2", "b2", "running", "elsewhere", 42, NOW - 1)],
            ..Leftovers::default()
        };
        assert_eq!(
            ids(&plan(&leftovers, &here(), None, &Usage::default()), |a| matches!(
                a,
                Action::TerminateInstance { .. }
            )),
            ["i-2"]
        );
    }

    #[test]
    fn a_process_that_cannot_be_checked_is_trusted_until_its_deadline() {
        let unknowable = |_: u32| Process::Unknown;
        let cannot_tell = Liveness { host: Some("here"), now: NOW, process: &unknowable };
        let nameless = Liveness { host: None, now: NOW, process: &alive_pids };
        let before = builder("i-1", "b1", "running", "here", 7, NOW + 60);
        let after = builder("i-1", "b1", "running", "here", 7, NOW - 1);
        for liveness in [&cannot_tell, &nameless] {
            assert!(liveness.is_live(&before), "no answer: alive until the deadline");
            assert!(!liveness.is_live(&after), "no answer: dead after the deadline");
        }
        assert!(
            here().is_live(&builder("i-1", "b1", "running", "here", 42, NOW - 1)),
            "a live process outlives its deadline"
        );
        assert!(
            !here().is_live(&builder("i-1", "b1", "running", "here", 7, NOW + 60)),
            "a gone process is dead before it"
        );
        let untagged = Builder { host: None, pid: None, deadline: None, ..before };
        assert!(!cannot_tell.is_live(&untagged), "nothing to go by: not a live build");
    }

    #[test]
    fn this_machine_and_its_processes_are_told_without_proc() {
        assert!(this_host().is_some_and(|h| !h.is_empty()));
        assert_eq!(process(std::process::id()), Process::Alive);
        assert_eq!(process(0), Process::Unknown, "0 is a process group");
        assert_eq!(process(u32::MAX), Process::Unknown, "not a pid any process has");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(process(pid), Process::Gone, "a reaped child");
    }

    #[test]
    fn releases_and_their_snapshots_are_never_collected() {
        let leftovers = Leftovers {
            builders: vec![builder("i-1", "b1", "terminated", "here", 7, 0)],
            images: vec![build_image("ami-1", "b1", "snap-ami", true)],
            snapshots: vec![snapshot("snap-ami", "b1"), snapshot("snap-pre", "b1")],
        };
        let actions = plan(&leftovers, &here(), None, &Usage::default());
        assert_eq!(ids(&actions, |_| true), ["snap-pre"]);
    }

    #[test]
    fn an_unfinished_ami_in_use_or_unchecked_stays_with_its_snapshots() {
        let leftovers = Leftovers {
            builders: vec![builder("i-1", "b1", "terminated", "here", 7, 0)],
            images: vec![build_image("ami-1", "b1", "snap-1", false)],
            snapshots: vec![snapshot("snap-1", "b1")],
        };
        let user = crate::aws::usage::User::SsmParameter { name: "/gio/eks/prod/node-ami".into() };
        let in_use = Usage {
            uses: vec![crate::aws::usage::Use { account: None, ami: "ami-1".into(), user }],
            ..Usage::default()
        };
        let unchecked =
            Usage { failures: vec!["launch templates: access denied".into()], ..Usage::default() };
        for usage in [&in_use, &unchecked] {
            let actions = plan(&leftovers, &here(), None, usage);
            assert_eq!(ids(&actions, |a| matches!(a, Action::Refuse { kind: Kind::Image, .. })), ["ami-1"]);
            assert!(
                ids(&actions, |a| matches!(a, Action::DeleteSnapshot { .. })).is_empty(),
                "its snapshot is mapped: {actions:?}"
            );
        }
        let free = plan(&leftovers, &here(), None, &Usage::default());
        assert_eq!(ids(&free, |_| true), ["ami-1", "snap-1"]);
    }

    #[test]
    fn a_named_build_is_cleaned_even_while_its_process_lives() {
        // The build cleaning up after its own failure is that live process.
        let leftovers = Leftovers {
            builders: vec![
                builder("i-1", "b1", "running", "here", 42, NOW + 999),
                builder("i-9", "b9", "running", "here", 7, NOW + 999),
            ],
            images: vec![],
            snapshots: vec![snapshot("snap-9", "b9")],
        };
        let actions = plan(&leftovers, &here(), Some("b1"), &Usage::default());
        assert_eq!(ids(&actions, |_| true), ["i-1"], "only the named build");
    }
}
