//! The bottom layer: what every other layer speaks. The services errors name, ids, the kinds of
//! things (architecture, volume type, engine…), the tag scheme, the clock, the progress trait,
//! what a report shows, the one poller and signal handling. Nothing here knows AWS's SDK, the
//! spec file or the terminal.

pub mod choice;
pub mod clock;
pub mod error;
pub mod iam;
pub mod ids;
pub mod kinds;
pub mod poll;
pub mod progress;
pub mod show;
pub mod signal;
pub mod tags;
