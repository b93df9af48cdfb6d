//! Shared pieces of the tcp-handoff userspace tools.

pub mod pattern;
pub mod sock;
