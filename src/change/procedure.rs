//! What an engine makes in many calls, with waits and progress of its own (an upload, a
//! registration chain, a build, a copy across regions): a `Procedure`, a type apart from the
//! `Action`s that `change::apply` carries out, so none can reach the executor. A plan that
//! holds one holds `Step`s, each an action or a procedure, and its engine carries it out.

use super::{Action, Kind, Planned};
use crate::core::ids::{AmiId, SnapshotId};
use serde::Serialize;

/// What a procedure's resource is known by: before it exists, what the plan calls it (`P`: its
/// name, or for a copy its source's id); once made, its id (`M`). Either way it reads as the
/// bare string under the `id` every action carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Target<M, P = String> {
    Planned(P),
    Made(M),
}

impl<M: AsRef<str>, P: AsRef<str>> Target<M, P> {
    pub fn as_str(&self) -> &str {
        match self {
            Target::Planned(p) => p.as_ref(),
            Target::Made(m) => m.as_ref(),
        }
    }

    /// The id of what was made, once it is.
    pub fn made(&self) -> Option<&M> {
        match self {
            Target::Made(m) => Some(m),
            Target::Planned(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Procedure {
    /// A snapshot made from a local image through the EBS direct APIs, by `transfer::upload`,
    /// block by block. Planned by the release name.
    UploadSnapshot { id: Target<SnapshotId>, name: String, size_gib: i32, why: String },
    /// An AMI registered from snapshots, by `engines::register`, in order, each from the
    /// previous one: a chain's parent exists only once the step before it is registered (until
    /// then `parent` names that step).
    RegisterImage { id: Target<AmiId>, name: String, parent: String, why: String },
    /// A release AMI made by a build engine from `base`.
    BuildImage { id: Target<AmiId>, name: String, base: AmiId, why: String },
    /// A copy of the AMI `source` into `region`, by `engines::copy`, which waits until it is
    /// available. Planned by the source's id.
    CopyImage { id: Target<AmiId, AmiId>, source: AmiId, region: String, why: String },
}

impl Planned for Procedure {
    fn id(&self) -> &str {
        match self {
            Procedure::UploadSnapshot { id, .. } => id.as_str(),
            Procedure::RegisterImage { id, .. } | Procedure::BuildImage { id, .. } => id.as_str(),
            Procedure::CopyImage { id, .. } => id.as_str(),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Procedure::UploadSnapshot { .. } => Kind::Snapshot,
            Procedure::RegisterImage { .. } | Procedure::BuildImage { .. } | Procedure::CopyImage { .. } => {
                Kind::Image
            }
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Procedure::UploadSnapshot { .. } => "upload",
            Procedure::RegisterImage { .. } => "register",
            Procedure::BuildImage { .. } => "build",
            Procedure::CopyImage { .. } => "copy",
        }
    }

    fn why(&self) -> &str {
        match self {
            Procedure::UploadSnapshot { why, .. }
            | Procedure::RegisterImage { why, .. }
            | Procedure::BuildImage { why, .. }
            | Procedure::CopyImage { why, .. } => why,
        }
    }

    /// Once made, what was planned by name has its id, and both are worth reading.
    fn resource(&self) -> String {
        match self {
            Procedure::UploadSnapshot { id: Target::Made(id), name, .. } => format!("{id} ({name})"),
            Procedure::RegisterImage { id: Target::Made(id), name, .. }
            | Procedure::BuildImage { id: Target::Made(id), name, .. } => format!("{id} ({name})"),
            Procedure::CopyImage { id: Target::Made(id), source, .. } => format!("{id} (copy of {source})"),
            planned => planned.id().to_string(),
        }
    }

    fn detail(&self) -> String {
        match self {
            Procedure::UploadSnapshot { size_gib, .. } => format!("{size_gib} GiB"),
            Procedure::RegisterImage { parent, .. } => format!("from {parent}"),
            Procedure::BuildImage { base, .. } => format!("from {base}"),
            Procedure::CopyImage { region, .. } => format!("to {region}"),
        }
    }

    fn is_noop(&self) -> bool {
        false
    }

    fn is_refusal(&self) -> bool {
        false
    }

    fn frees_gib(&self) -> Option<i64> {
        None
    }
}

/// What a plan with a procedure in it holds: an action `change::apply` carries out (a reuse, a
/// tag), or a procedure its engine does. Serialized as the one it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Step {
    Action(Action),
    Procedure(Procedure),
}

impl From<Action> for Step {
    fn from(action: Action) -> Self {
        Step::Action(action)
    }
}

impl From<Procedure> for Step {
    fn from(procedure: Procedure) -> Self {
        Step::Procedure(procedure)
    }
}

/// A plan's steps parted: the actions `change::apply` carries out, and the procedures left to
/// their engine, each in plan order.
pub fn split(steps: &[Step]) -> (Vec<Action>, Vec<Procedure>) {
    let mut actions = Vec::new();
    let mut procedures = Vec::new();
    for step in steps {
        match step {
            Step::Action(action) => actions.push(action.clone()),
            Step::Procedure(procedure) => procedures.push(procedure.clone()),
        }
    }
    (actions, procedures)
}

impl Step {
    fn planned(&self) -> &dyn Planned {
        match self {
            Step::Action(action) => action,
            Step::Procedure(procedure) => procedure,
        }
    }
}

impl Planned for Step {
    fn id(&self) -> &str {
        self.planned().id()
    }

    fn kind(&self) -> Kind {
        self.planned().kind()
    }

    fn verb(&self) -> &'static str {
        self.planned().verb()
    }

    fn why(&self) -> &str {
        self.planned().why()
    }

    fn resource(&self) -> String {
        self.planned().resource()
    }

    fn detail(&self) -> String {
        self.planned().detail()
    }

    fn is_noop(&self) -> bool {
        self.planned().is_noop()
    }

    fn is_refusal(&self) -> bool {
        self.planned().is_refusal()
    }

    fn frees_gib(&self) -> Option<i64> {
        self.planned().frees_gib()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Outcome, Status};

    fn register(id: Target<AmiId>) -> Step {
        Step::Procedure(Procedure::RegisterImage {
            id,
            name: "gio-node-xvdb".into(),
            parent: "ami-0".into(),
            why: "adds /dev/xvdb".into(),
        })
    }

    #[test]
    fn a_step_serializes_as_the_action_or_procedure_it_is() {
        let planned = serde_json::to_value(register(Target::Planned("gio-node-xvdb".into()))).unwrap();
        assert_eq!(
            planned,
            serde_json::json!({"action": "register_image", "id": "gio-node-xvdb", "name": "gio-node-xvdb",
                "parent": "ami-0", "why": "adds /dev/xvdb"})
        );
        let made = Outcome { action: register(Target::Made(AmiId::from_aws("ami-1"))), status: Status::Done };
        let json = serde_json::to_value(&made).unwrap();
        assert_eq!((&json["id"], &json["status"]), (&serde_json::json!("ami-1"), &serde_json::json!("done")));
        let reuse = Step::Action(Action::Reuse { id: "ami-2".into(), kind: Kind::Image, why: "x".into() });
        assert_eq!(
            serde_json::to_value(reuse).unwrap(),
            serde_json::json!({"action": "reuse", "id": "ami-2", "why": "x"})
        );
    }

    #[test]
    fn a_made_resource_reads_by_its_id_and_its_name() {
        let planned = register(Target::Planned("gio-node-xvdb".into()));
        assert_eq!((planned.id(), planned.resource().as_str()), ("gio-node-xvdb", "gio-node-xvdb"));
        let made = register(Target::Made(AmiId::from_aws("ami-1")));
        assert_eq!((made.id(), made.resource().as_str()), ("ami-1", "ami-1 (gio-node-xvdb)"));
        let source = AmiId::from_aws("ami-s");
        let copy = |id| Procedure::CopyImage {
            id,
            source: source.clone(),
            region: "eu-west-1".into(),
            why: String::new(),
        };
        assert_eq!(copy(Target::Planned(source.clone())).resource(), "ami-s");
        assert_eq!(copy(Target::Made(AmiId::from_aws("ami-c"))).resource(), "ami-c (copy of ami-s)");
        assert_eq!(
            (made.verb(), made.kind(), made.detail().as_str()),
            ("register", Kind::Image, "from ami-0")
        );
    }
}
