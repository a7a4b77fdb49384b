//! What builds leave behind when they die (kill -9, a lost laptop lid): builder instances,
//! pre-snapshots, half-made AMIs. Everything a build creates carries its `gio-ami:build-id`, and
//! its builder instance says where the build runs and until when, so a dead build's leftovers
//! can be told from a live build's work.

use crate::aws::Aws;
use crate::core::error::Result;
use crate::aws::inventory::{self, Image, InstanceState, Snapshot};
use crate::change::{self, Action, Kind, Outcome};
use crate::core::kinds::Reported;
use crate::core::tags;
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

/// How to tell a live build from a dead one, from this machine.
pub struct Liveness<'a> {
    pub host: &'a str,
    pub now: i64,
    pub pid_alive: &'a dyn Fn(u32) -> bool,
}

impl Liveness<'_> {
    fn is_live(&self, builder: &Builder) -> bool {
        if builder.state.is_ending() {
            return false;
        }
        match (&builder.host, builder.pid, builder.deadline) {
            // Our own machine: the process table is the truth.
            (Some(host), Some(pid), _) if host == self.host => (self.pid_alive)(pid),
            // Another machine: trust the build until its deadline.
            (_, _, Some(deadline)) => self.now < deadline,
            _ => false,
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
            let page = page.map_err(|e| aws.error("DescribeInstances", "ec2", e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                builders.push(builder(instance));
            }
        }
        Ok::<_, crate::Error>(builders)
    };
    let (builders, images, snapshots) = futures::try_join!(
        instances,
        inventory::own_images(aws),
        inventory::own_snapshots_matching(aws, Some(filter.clone()))
    )?;
    Ok(Leftovers { builders, images, snapshots })
}

fn builder(instance: &aws_sdk_ec2::types::Instance) -> Builder {
    let tag = |key: &str| {
        instance
            .tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
            .map(str::to_string)
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
pub fn plan(leftovers: &Leftovers, liveness: &Liveness<'_>, only: Option<&str>) -> Vec<Action> {
    let live: BTreeSet<&str> = leftovers
        .builders
        .iter()
        .filter(|b| Some(b.build_id.as_str()) != only && liveness.is_live(b))
        .map(|b| b.build_id.as_str())
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
                id: b.id.clone(),
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
    for image in leftovers.images.iter().filter(|i| unfinished.contains(i.id.as_str())) {
        actions.push(Action::DeregisterImage {
            id: image.id.clone(),
            name: image.name.clone(),
            why: format!("unfinished AMI of dead build {}", image.tags[tags::BUILD_ID]),
        });
    }
    let mapped: HashSet<&str> = leftovers
        .images
        .iter()
        .filter(|i| !unfinished.contains(i.id.as_str()))
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

/// This machine's name, as builds record it.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Linux keeps a /proc entry for every live process.
pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The plan of `gc`: the leftovers of every dead build, read in one phase.
pub async fn prepare(aws: &Aws) -> Result<change::Plan> {
    let leftovers = leftovers(aws, None).await?;
    Ok(change::Plan { actions: plan_here(&leftovers, None), ..change::Plan::default() })
}

/// Removes what the named build left (its own clean-up, after a failure or once the release
/// is made).
pub async fn clean(aws: &Aws, build: &str) -> Result<Vec<Outcome>> {
    let leftovers = leftovers(aws, Some(build)).await?;
    Ok(change::apply(aws, &plan_here(&leftovers, Some(build))).await)
}

/// How many times a build tries to remove what it made before leaving it to `gc`: a builder
/// and its snapshots are billed until someone does, and the SDK's five attempts per call still
/// lose about one call in thirty when half of the requests fail (throttling storms do that).
const CLEAN_PASSES: usize = 3;

/// `clean`, passed again (after a pause) while a listing or a removal failed, at most
/// CLEAN_PASSES times. What earlier passes removed stays in the outcomes; what they failed to
/// remove is judged by the pass after.
pub async fn clean_persistently(aws: &Aws, build: &str) -> Result<Vec<Outcome>> {
    let (mut removed, mut pass) = (Vec::new(), 1);
    loop {
        let outcomes = clean(aws, build).await;
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

/// The plan, with liveness as seen from this machine, now.
fn plan_here(leftovers: &Leftovers, only: Option<&str>) -> Vec<Action> {
    let host = this_host();
    let liveness = Liveness { host: &host, now: crate::core::clock::now_epoch(), pid_alive: &pid_alive };
    plan(leftovers, &liveness, only)
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
    fn alive_pids(pid: u32) -> bool {
        pid == 42
    }
    fn here() -> Liveness<'static> {
        Liveness { host: "here", now: NOW, pid_alive: &alive_pids }
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
        let actions = plan(&leftovers, &here(), None);
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
        let actions = plan(&leftovers, &here(), None);
        assert_eq!(ids(&actions, |a| matches!(a, Action::Refuse { .. })), ["i-1", "i-2"]);
        assert_eq!(actions.len(), 2, "no deletion: {actions:?}");
    }

    #[test]
    fn another_hosts_build_is_dead_after_its_deadline() {
        let leftovers = Leftovers {
            builders: vec![builder("i-2", "b2", "running", "elsewhere", 42, NOW - 1)],
            ..Leftovers::default()
        };
        assert_eq!(ids(&plan(&leftovers, &here(), None), |a| matches!(a, Action::TerminateInstance { .. })), ["i-2"]);
    }

    #[test]
    fn releases_and_their_snapshots_are_never_collected() {
        let leftovers = Leftovers {
            builders: vec![builder("i-1", "b1", "terminated", "here", 7, 0)],
            images: vec![build_image("ami-1", "b1", "snap-ami", true)],
            snapshots: vec![snapshot("snap-ami", "b1"), snapshot("snap-pre", "b1")],
        };
        let actions = plan(&leftovers, &here(), None);
        assert_eq!(ids(&actions, |_| true), ["snap-pre"]);
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
        let actions = plan(&leftovers, &here(), Some("b1"));
        assert_eq!(ids(&actions, |_| true), ["i-1"], "only the named build");
    }
}
