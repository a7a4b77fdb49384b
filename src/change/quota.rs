//! AWS's quotas on work in progress in an account (archives, restores from the archive): a plan
//! starts what the quota has room for and queues the rest, so that a re-run, which counts again,
//! carries on where this one stopped instead of failing half its requests.

use crate::change::{Action, Planned};

/// A quota of work in progress per account.
pub struct Quota {
    /// What it counts, plural: "archives".
    pub what: &'static str,
    pub most: usize,
    /// How many are in progress now, whoever started them.
    pub in_progress: usize,
}

/// Queues the actions `limited` selects beyond what `quota` has room for (`queue_beyond`); the
/// plan's warning when any was, ending with `then`, what to do about them.
pub fn pace<S: Planned + From<Action>>(
    actions: &mut [S],
    limited: impl Fn(&S) -> bool,
    quota: &Quota,
    then: &str,
) -> Option<String> {
    let why = format!(
        "AWS allows {} snapshot {} in progress per account, and {} are",
        quota.most, quota.what, quota.in_progress
    );
    let queued = queue_beyond(actions, quota.most.saturating_sub(quota.in_progress), limited, &why);
    (queued > 0).then(|| format!("{queued} snapshot(s) queued ({why}): {then}"))
}

/// Leaves the first `room` actions `limited` selects as they are and turns each one after into a
/// refusal that says it is queued, and why: nothing is called for it, and a re-run plans it again.
/// Returns how many were queued.
pub fn queue_beyond<S: Planned + From<Action>>(
    actions: &mut [S],
    room: usize,
    limited: impl Fn(&S) -> bool,
    why: &str,
) -> usize {
    let mut started = 0;
    let mut queued = 0;
    for action in actions.iter_mut().filter(|a| limited(a)) {
        if started < room {
            started += 1;
            continue;
        }
        *action = Action::Refuse {
            id: action.id().to_string(),
            kind: action.kind(),
            why: format!("queued: {why}"),
        }
        .into();
        queued += 1;
    }
    queued
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Kind;

    #[test]
    fn what_the_quota_has_room_for_starts_and_the_rest_is_queued() {
        let archive = |id: &str| Action::ArchiveSnapshot { id: id.into(), size_gib: 8, why: String::new() };
        let mut actions = vec![
            Action::DeregisterImage { id: "ami-1".into(), name: "r".into(), why: String::new() },
            archive("snap-1"),
            archive("snap-2"),
            archive("snap-3"),
        ];
        let queued = queue_beyond(
            &mut actions,
            1,
            |a| matches!(a, Action::ArchiveSnapshot { .. }),
            "the quota is full",
        );
        assert_eq!(queued, 2);
        assert!(matches!(actions[0], Action::DeregisterImage { .. }), "what the quota does not count stays");
        assert!(matches!(actions[1], Action::ArchiveSnapshot { .. }));
        for action in &actions[2..] {
            assert!(
                matches!(action, Action::Refuse { kind: Kind::Snapshot, why, .. } if why == "queued: the quota is full"),
                "{action:?}"
            );
        }
        assert_eq!(queue_beyond(&mut actions, 0, |a| matches!(a, Action::ArchiveSnapshot { .. }), "x"), 1);
    }
}
