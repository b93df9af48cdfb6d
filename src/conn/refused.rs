// SPDX-License-Identifier: GPL-2.0

//! Why a handoff did not happen, and the one table from each reason to the
//! errno an application sees and the counter it bumps.

use kernel::prelude::*;

use crate::errno;
use crate::firmware::msg;
use crate::stats::Stat;

/// Why a handoff did not happen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Refused {
    /// Not established (or no longer).
    NotEstablished,
    /// In a state handoff does not carry (repair mode, microsecond
    /// timestamps, urgent data).
    Unusual,
    /// A socket filter is attached (the parked socket needs the slot).
    Filter,
    /// `net.handoff.max_conns` reached.
    MaxConns,
    /// The host could not allocate what the handoff needs.
    NoMemory,
    /// The snapshot does not encode.
    BadSnapshot,
    /// The route does not leave through an hnic device.
    NoDevice,
    /// The device is down, or went away during the handoff.
    DeviceDown,
    /// No resolved neighbour for the next hop.
    NoNeighbour,
    /// The NIC did not answer in time (or its command ring stayed full).
    TimedOut,
    /// The NIC answered for a handoff it does not know.
    BadAnswer,
    /// The NIC refused.
    Nic(msg::Refusal),
}

impl Refused {
    /// The one table of refusals: the errno an explicit
    /// `setsockopt(TCP_ULP)` returns and the counter bumped
    /// (`/proc/net/handoff_stat`, Documentation/handoff.rst).
    pub(crate) fn errno_and_counter(self) -> (Error, Stat) {
        use msg::Refusal as Nic;
        match self {
            Refused::NotEstablished => (errno::ENOTCONN(), Stat::RefusedState),
            Refused::Unusual => (errno::EOPNOTSUPP(), Stat::RefusedState),
            Refused::Filter => (EBUSY, Stat::RefusedFilter),
            Refused::MaxConns => (ENOSPC, Stat::RefusedMaxConns),
            Refused::NoMemory => (ENOMEM, Stat::RefusedNoMemory),
            Refused::BadSnapshot => (EINVAL, Stat::RefusedBadSnapshot),
            Refused::NoDevice => (ENODEV, Stat::RefusedNoDevice),
            Refused::DeviceDown => (errno::ENETDOWN(), Stat::RefusedDeviceDown),
            Refused::NoNeighbour => (errno::EHOSTUNREACH(), Stat::RefusedNoNeighbour),
            Refused::TimedOut => (errno::ETIMEDOUT(), Stat::RefusedTimeout),
            Refused::BadAnswer => (EIO, Stat::RefusedState),
            Refused::Nic(Nic::NoConnSlot) => (ENOSPC, Stat::RefusedNoConnSlot),
            Refused::Nic(Nic::Duplicate) => (EEXIST, Stat::RefusedDuplicate),
            Refused::Nic(Nic::BadSnapshot) => (EINVAL, Stat::RefusedBadSnapshot),
            Refused::Nic(Nic::NoRefs) => (errno::ENOBUFS(), Stat::RefusedNoRefs),
            Refused::Nic(Nic::BadCid | Nic::Unsupported | Nic::Shutdown | Nic::Unknown(_)) => {
                (errno::EOPNOTSUPP(), Stat::RefusedState)
            }
        }
    }
}
