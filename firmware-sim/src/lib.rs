//! NIC firmware for TCP offload through connection handoff.
//!
//! This crate is the "firmware" of the tcp-handoff virtual NIC: the TCP
//! engine that runs connections the operating system has handed off, after
//! Kim & Rixner, "TCP Offload through Connection Handoff" (EuroSys 2006).
//! The OS establishes connections and keeps control (admission, ports,
//! routes); established connections are moved to the NIC with `handoff` and
//! back with `restore`, and the OS's bypass layer relays socket operations as
//! the commands of [`msg`].
//!
//! The crate is `no_std`, uses no `alloc` and no `unsafe`, and never writes
//! `crate::` paths, so the same source is compiled into the kernel module
//! (mounted as a submodule) and tested, fuzzed and measured in userspace.
//! All memory is provided by the caller as an [`memory::Arena`] sized by
//! [`memory::NicMemoryLayout`].
//!
//! Layers, as in the paper's Figure 2:
//! - [`lookup`]: 4-tuple → connection, or pass-through to the host;
//! - [`engine`]: TCP for offloaded connections, the command/event interface;
//! - [`wire`]: Ethernet, IPv4, IPv6 and TCP formats with real checksums.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conn;
pub mod counters;
pub mod engine;
pub mod lookup;
pub mod memory;
pub mod msg;
pub mod seq;
pub mod snapshot;
pub mod wire;

pub use self::conn::ConnSlot;
pub use self::counters::Counters;
pub use self::engine::{CmdError, DmaError, Engine, HostMemory, Io, NicPort, StepStats, Verdict};
pub use self::lookup::{FlowKey, LookupEntry};
pub use self::memory::{Arena, BufRef, ChunkMeta, LayoutError, NicMemoryLayout, DEFAULT_MEMORY};
pub use self::msg::{
    Command, CtrlCmd, CtrlEvent, Event, HostEvent, MsgError, Refusal, ResourceKind, RestoreReason,
};
pub use self::snapshot::{SnapFlags, Snapshot, TcpState};
