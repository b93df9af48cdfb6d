//! Shared pieces of the tcp-handoff userspace tools.

pub mod pattern;
