//! One module per verb: gather the facts, plan, and apply through `change`. Verbs that only
//! read one thing (`images`, `base`, `download`) call the layer below directly from the binary.

pub mod adopt;
pub mod advice;
pub mod archive;
pub mod copy;
pub mod cost;
pub mod history;
pub mod lineage;
pub mod outdated;
pub mod promote;
pub mod prune;
pub mod publish;
pub mod recycle_bin;
pub mod restore;
pub mod share;
pub mod snapshots;
pub mod unarchive;
pub mod upload;
