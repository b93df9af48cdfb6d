// SPDX-License-Identifier: GPL-2.0

//! What crosses the hnic "bus", and what the firmware and the wire do,
//! counted by type. Exposed as `ethtool -S hnicN`; names are stable (tests
//! and benchmarks read them).

use core::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($id:ident => $name:literal: $doc:literal,)*) => {
        /// One counter of a device.
        #[derive(Clone, Copy)]
        #[repr(usize)]
        pub(crate) enum Ctr { $(#[doc = $doc] $id,)* }

        /// `ethtool -S` names, indexed by [`Ctr`].
        pub(crate) const NAMES: &[&str] = &[$($name,)*];
    };
}

counters! {
    // host -> NIC over the bus
    TxDesc => "bus_tx_desc": "TX descriptors the host posted (one per frame)",
    TxDoorbell => "bus_tx_doorbell": "doorbell writes waking the firmware",
    TxDmaBytes => "bus_tx_dma_bytes": "frame bytes the firmware fetched from host memory",
    TxCmd => "bus_cmd_msgs": "command messages the host posted (OS -> NIC)",
    TxCmdBytes => "bus_cmd_bytes": "command bytes the host posted",
    // NIC -> host over the bus
    RxDesc => "bus_rx_desc": "RX completions the firmware wrote (one per frame)",
    RxDmaBytes => "bus_rx_dma_bytes": "frame bytes the firmware wrote to host memory",
    RxInterrupt => "bus_rx_interrupt": "interrupts raised (NAPI schedules)",
    RxEvt => "bus_evt_msgs": "event messages the firmware posted (NIC -> OS)",
    RxEvtBytes => "bus_evt_bytes": "event bytes the firmware posted",
    BusDmaRead => "bus_dma_read_bytes": "payload bytes the firmware read from offloaded connections' send rings",
    BusDmaWrite => "bus_dma_write_bytes": "payload bytes the firmware wrote into offloaded connections' receive rings",
    BusDmaRefused => "bus_dma_refused": "DMA requests refused: unknown cid or outside the connection's posted range",
    // host driver (also the interface's rtnl_link_stats64)
    HostTxPackets => "host_tx_packets": "frames the stack handed to the driver",
    HostTxBytes => "host_tx_bytes": "bytes the stack handed to the driver",
    HostRxPackets => "host_rx_packets": "frames the driver gave to the stack",
    HostRxBytes => "host_rx_bytes": "bytes the driver gave to the stack",
    TxRingFull => "host_tx_ring_full": "times the TX ring filled and the queue stopped",
    TxCsumPartial => "host_tx_csum_partial": "frames whose checksum the firmware completed",
    RxAllocFail => "host_rx_alloc_fail": "frames lost for lack of an skb",
    RxRunt => "host_rx_runt_drop": "frames shorter than an Ethernet header",
    CmdRingFull => "host_cmd_ring_full": "commands refused because the command ring was full",
    EvtHandoffDone => "host_evt_handoff_done": "handoff replies received",
    EvtRestore => "host_evt_restore": "restore events received (connection handed back)",
    EvtRecv => "host_evt_recv": "recv events received",
    EvtAck => "host_evt_ack": "ack events received",
    EvtCtrl => "host_evt_ctrl": "ctrl events received",
    EvtResource => "host_evt_resource": "resource events received",
    EvtRecvData => "host_evt_recv_data": "recv_data events received (staged bytes returned)",
    EvtInfo => "host_evt_info": "info events received (a connection's live state, for TCP_INFO)",
    EvtMalformed => "host_evt_malformed": "event messages that did not decode",
    HostEvtUnknownCid => "host_evt_unknown_cid": "events for a cid no host connection owns",
    HostEvtBadRecv => "host_evt_bad_recv": "recv events that do not fit the connection's posted buffers",
    HostEvtUnknownCode => "host_evt_unknown_code": "ctrl and resource events with a code this host does not know, skipped",
    HostOrphanHandoff => "host_orphan_handoff": "handoff results that arrived after the host gave up waiting (taken back)",
    HostHandoffWaits => "host_handoff_waits": "handoffs that waited for one of the 64 in flight to finish",
    // firmware
    FwPassThrough => "fw_pass_through": "received frames that matched no offloaded connection",
    FwConsumed => "fw_offload_rx": "received frames consumed by offloaded connections",
    FwDropped => "fw_offload_drop": "received frames the firmware dropped for an offloaded connection",
    FwRxCsumOk => "fw_rx_csum_ok": "received frames whose checksums the firmware verified",
    FwRxCsumBad => "fw_rx_csum_bad": "received frames with a bad checksum (left for the host to drop)",
    FwRxRingFull => "fw_rx_ring_full_drop": "frames dropped because the host RX ring was full",
    FwRxDevDown => "fw_rx_dev_down_drop": "frames dropped because the device was down",
    FwTxLinkDown => "fw_tx_link_down_drop": "frames dropped because the link was down",
    FwTxTooBig => "fw_tx_too_big_drop": "frames larger than the firmware's frame limit",
    FwCmdOk => "fw_cmd_ok": "commands the firmware executed",
    FwCmdMalformed => "fw_cmd_malformed": "commands that did not decode",
    FwCmdRefused => "fw_cmd_refused": "valid commands the firmware refused (unknown cid, no resources, ...)",
    FwEvtRingFull => "fw_evt_ring_full_drop": "events lost because the event ring was full",
    FwEvtBackpressure => "fw_evt_backpressure": "firmware passes that held commands and frames back because the event ring was nearly full",
    FwWakeups => "fw_wakeups": "firmware loop iterations that found work",
    FwBusyNs => "fw_busy_ns": "time the firmware spent working",
    FwIdleNs => "fw_idle_ns": "time the firmware spent asleep",
    // the wire, as seen by the sender
    WireTxFrames => "wire_tx_frames": "frames put on the wire",
    WireTxBytes => "wire_tx_bytes": "bytes put on the wire",
    WireLoss => "wire_loss_drop": "frames the wire lost (loss knob)",
    WireDup => "wire_dup": "frames the wire duplicated (dup knob)",
    WireReorder => "wire_reorder": "frames the wire held back behind a later one (reorder knob)",
    WireQueueFull => "wire_queue_full_drop": "frames dropped because the peer's wire queue was full",
    // the wire, as seen by the receiver
    WireRxFrames => "wire_rx_frames": "frames taken off the wire",
}

/// Number of counters.
pub(crate) const COUNT: usize = NAMES.len();

/// A device's counters.
pub(crate) struct Counters([AtomicU64; COUNT]);

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters([const { AtomicU64::new(0) }; COUNT])
    }

    #[inline]
    pub(crate) fn add(&self, c: Ctr, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn inc(&self, c: Ctr) {
        self.add(c, 1);
    }

    pub(crate) fn get(&self, c: Ctr) -> u64 {
        self.0[c as usize].load(Ordering::Relaxed)
    }

    /// All values, in [`NAMES`] order.
    pub(crate) fn snapshot(&self, out: &mut [u64]) {
        for (o, c) in out.iter_mut().zip(self.0.iter()) {
            *o = c.load(Ordering::Relaxed);
        }
    }
}
