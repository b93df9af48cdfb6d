// SPDX-License-Identifier: GPL-2.0

//! NIC -> OS events, taken off the event ring by NAPI poll.
//!
//! Every event is decoded, counted by type (`ethtool -S`: the
//! `host_evt_*` counters) and delivered to the connection it concerns
//! (`offload.rs`).

use super::counters::Ctr;
use super::nic::Nic;
use crate::firmware::HostEvent;

/// Handles one event message.
pub(crate) fn dispatch(nic: &Nic, msg: &[u8]) {
    let decoded = HostEvent::decode(msg);
    let kind = match decoded {
        Ok((HostEvent::HandoffDone { .. }, _)) => Ctr::EvtHandoffDone,
        Ok((HostEvent::Restore { .. }, _)) => Ctr::EvtRestore,
        Ok((HostEvent::Recv { .. }, _)) => Ctr::EvtRecv,
        Ok((HostEvent::Ack { .. }, _)) => Ctr::EvtAck,
        Ok((HostEvent::Ctrl { .. }, _)) => Ctr::EvtCtrl,
        Ok((HostEvent::Resource { .. }, _)) => Ctr::EvtResource,
        Ok((HostEvent::RecvData { .. }, _)) => Ctr::EvtRecvData,
        Ok((HostEvent::Info { .. }, _)) => Ctr::EvtInfo,
        Err(_) => Ctr::EvtMalformed,
    };
    nic.ctr.inc(kind);
    if let Ok((ev, _)) = decoded {
        super::offload::deliver(nic, &ev);
    }
}
