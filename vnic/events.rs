// SPDX-License-Identifier: GPL-2.0

//! NIC -> OS events, taken off the event ring by NAPI poll.
//!
//! Every event is decoded and counted by type (`ethtool -S`: the
//! `host_evt_*` counters). Nothing on the host owns offloaded connections
//! yet (the bypass layer is the handoff work), so that is all that happens
//! to them for now.

use super::counters::Ctr;
use super::nic::Nic;
use crate::firmware::HostEvent;

/// Handles one event message.
pub(crate) fn dispatch(nic: &Nic, msg: &[u8]) {
    let kind = match HostEvent::decode(msg) {
        Ok((HostEvent::HandoffDone { .. }, _)) => Ctr::EvtHandoffDone,
        Ok((HostEvent::Restore { .. }, _)) => Ctr::EvtRestore,
        Ok((HostEvent::Recv { .. }, _)) => Ctr::EvtRecv,
        Ok((HostEvent::Ack { .. }, _)) => Ctr::EvtAck,
        Ok((HostEvent::Ctrl { .. }, _)) => Ctr::EvtCtrl,
        Ok((HostEvent::Resource { .. }, _)) => Ctr::EvtResource,
        Ok((HostEvent::RecvData { .. }, _)) => Ctr::EvtRecvData,
        Err(_) => Ctr::EvtMalformed,
    };
    nic.ctr.inc(kind);
}
