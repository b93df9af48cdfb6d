// SPDX-License-Identifier: GPL-2.0

//! The NIC's events for its connections (taken off by NAPI), and each
//! connection's deferred work.

use kernel::prelude::*;

use crate::bindings;
use crate::conn::commands::*;
use crate::conn::phase::*;
use crate::conn::refused::Refused;
use crate::conn::rings::*;
use crate::conn::*;
use crate::firmware::msg::{CtrlEvent, ResourceKind};
use crate::firmware::{msg, Command, HostEvent};
use crate::stats::{self, Stat};
use crate::vnic::{offload, Guard, Nic, Region};

/// Applies one NIC event to its connection (NAPI, lock held).
pub(crate) fn on_event(nic: &Nic, c: &Conn, g: &Guard<'_>, ev: &HostEvent<'_>) {
    let mut guard = c.lock();
    let s = &mut *guard;
    match *ev {
        HostEvent::Recv { addr, len, .. } => {
            c.stat(Stat::EvtRecv);
            let cap = c.rcv.len() as u64;
            let expect =
                offload::host_addr(s.cid(), Region::Recv, ring_off(s.rcv_tail, cap) as u32);
            let len = u64::from(len);
            if addr != expect || s.rcv_tail + len > s.rcv_posted {
                nic.ctr.inc(crate::vnic::Ctr::HostEvtBadRecv);
                pr_warn!("recv event outside the posted buffers (cid {:#x} addr {:#x} len {}; expected {:#x}, ring head {} tail {} posted {})\n",
                    s.cid(), addr, len, expect, s.rcv_head, s.rcv_tail, s.rcv_posted);
                return;
            }
            s.rcv_tail += len;
            pop_refs(&mut s.post_refs, &mut s.post_nrefs, s.rcv_tail);
            stats::add(c.net, Stat::RxBytes, len);
            wake(c, EPOLLIN);
        }
        HostEvent::RecvData { data, .. } => {
            let len = data.len() as u64;
            // SAFETY: the overflow queue is shared state (lock held).
            let spilled = unsafe { !bindings::handoff_skb_queue_empty(c.overflow.get()) };
            if spilled || s.rcv_tail - s.rcv_head + len > c.rcv.len() as u64 {
                // More than the ring holds (the NIC honoured a window edge
                // the host advertised before the handoff): keep it aside.
                // SAFETY: atomic allocation; the skb goes to our queue.
                let ok = unsafe {
                    let skb = bindings::handoff_alloc_skb_atomic(data.len() as u32);
                    if !skb.is_null() {
                        bindings::handoff_skb_put_data(
                            skb,
                            data.as_ptr().cast(),
                            data.len() as u32,
                        );
                        bindings::handoff_skb_queue_tail(c.overflow.get(), skb);
                    }
                    !skb.is_null()
                };
                if !ok {
                    nic.ctr.inc(crate::vnic::Ctr::HostEvtBadRecv);
                    pr_warn!(
                        "no memory for {} bytes handed back by the NIC (cid {:#x})\n",
                        len,
                        s.cid()
                    );
                }
                stats::add(c.net, Stat::RxBytes, len);
                return;
            }
            let (base, rcap) = c.ring(Region::Recv);
            copy_in_ring(base, rcap, s.rcv_tail, data);
            s.rcv_tail += len;
            // The NIC is handing the connection back: posted space is void.
            s.rcv_posted = s.rcv_tail;
            s.post_nrefs = 0;
            stats::add(c.net, Stat::RxBytes, len);
            wake(c, EPOLLIN);
        }
        HostEvent::Ack { len, .. } => {
            c.stat(Stat::EvtAck);
            // Bytes acknowledged before their `send` arrived are skipped by
            // the NIC when it does; the host still sends them in order.
            s.snd_head = (s.snd_head + len).min(s.snd_tail);
            pop_refs(&mut s.snd_refs, &mut s.snd_nrefs, s.snd_head);
            stats::add(c.net, Stat::TxBytes, len);
            push(c, s, nic, true);
            // As `sk_stream_write_space`: a writer that found no room (it
            // set SOCK_NOSPACE, natively or here) is woken once a quarter
            // of the ring is free, whenever it went to sleep.
            if writable(c, s) && nospace(c).take() {
                wake(c, EPOLLOUT);
            }
        }
        HostEvent::Ctrl { ev, arg, cid } => {
            c.stat(Stat::EvtCtrl);
            match ev {
                CtrlEvent::PeerFin => {
                    // Peer FIN, after all data before it was delivered.
                    s.peer_fin = true;
                    c.sock().shut_rd();
                    wake(c, EPOLLIN | bindings::POLLRDHUP);
                }
                CtrlEvent::PeerRst | CtrlEvent::TimedOut => {
                    // Peer reset / retransmissions gave up: the errno native
                    // TCP reports (ECONNRESET / errno::ETIMEDOUT()).
                    set_sk_err(c, arg as u32);
                    wake(c, EPOLL_ALL);
                }
                CtrlEvent::Freed => {
                    nic.offload.unlink(g, cid, c);
                    released(c, s, None);
                }
                CtrlEvent::RestoreRequest => {
                    // The NIC is short of memory and this connection has
                    // been idle the longest (Documentation/firmware.rst):
                    // take it back, from process context.
                    c.stat(Stat::NicRestoreRequests);
                    if let Phase::Offloaded {
                        cid,
                        leaving: Leaving::No,
                    } = s.phase()
                    {
                        let next = Phase::Offloaded {
                            cid,
                            leaving: Leaving::NicAsked,
                        };
                        enter(c, s, next);
                    }
                }
                CtrlEvent::Unknown(_) => nic.ctr.inc(crate::vnic::Ctr::HostEvtUnknownCode),
            }
        }
        HostEvent::Restore { cid, snap, .. } => {
            nic.offload.unlink(g, cid, c);
            released(c, s, Some(snap));
        }
        HostEvent::Resource { kind, num, cid } => match kind {
            ResourceKind::Refs if num == 0 => {
                // A reference we sent was refused: the stream would have a
                // hole, so the connection cannot continue. Abort it.
                pr_warn!("NIC out of buffer references, resetting cid {:#x}\n", cid);
                set_sk_err(c, bindings::ENOBUFS);
                let _ = ctrl(c, s, nic, msg::CtrlCmd::Abort, 0);
                wake(c, EPOLL_ALL);
            }
            ResourceKind::Unknown(_) => nic.ctr.inc(crate::vnic::Ctr::HostEvtUnknownCode),
            _ => {}
        },
        HostEvent::Info { snap, .. } => {
            s.info = Some(snap);
            // SAFETY: initialised; a getsockopt may wait on it.
            unsafe { bindings::complete(c.info_done.get()) };
        }
        HostEvent::HandoffDone { .. } => {}
    }
}

/// Deferred work of a connection (process context): finish a socket the
/// NIC let go of, or retry commands that found the ring full.
pub(crate) unsafe extern "C" fn conn_work(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` field of a `Conn`; `schedule` took a
    // socket reference and a record reference, so both are alive until
    // we drop them at the end.
    let c = unsafe {
        &*(work as *const u8)
            .sub(core::mem::offset_of!(Conn, work))
            .cast::<Conn>()
    };
    let sk = c.sk;
    // SAFETY: `sk` is alive (our reference).
    unsafe { bindings::handoff_lock_sock(sk) };
    // The NIC let go (Released) and the socket still has it: finish.
    let nic_gone = locked(c, |s, nic| {
        if let (true, Some(nic)) = (s.need_push, nic) {
            push(c, s, nic, true);
        }
        s.phase().is_released() && nic.is_some()
    });
    if nic_gone {
        // SAFETY: we hold the socket lock and a reference.
        unsafe { crate::handoff::finish(c) };
    } else if locked(c, |s, nic| {
        nic.is_some()
            && matches!(
                s.phase(),
                Phase::Offloaded {
                    leaving: Leaving::NicAsked,
                    ..
                }
            )
    }) {
        // SAFETY: we hold the socket lock, which serialises every use of
        // the record's host-side fields (as in `control::apply_one`); an
        // offloaded socket carries our record.
        if let Some(cm) = unsafe { crate::conn::record_ptr(sk) } {
            // SAFETY: as above.
            if let Err(e) =
                unsafe { crate::handoff::restore(&mut *cm, crate::handoff::DrainBy::from_now()) }
            {
                pr_warn!("restore the NIC asked for failed: error {}\n", e.to_errno());
            }
        }
    }
    // SAFETY: lock and references taken above (the record's last use).
    unsafe {
        bindings::release_sock(sk);
        crate::conn::put_record(c as *const Conn as *mut Conn);
        bindings::handoff_sock_put(sk);
    }
}

/// After `handoff_done`, with the bypass operations installed: the
/// connection enters `Offloaded` (waking every waiter to re-evaluate its
/// readiness), and the NIC gets the queued data, receive space and a window
/// update (which also carries the ACK the host may have delayed). Nothing
/// to do if the NIC let go of it meanwhile (its work item finishes it).
pub(crate) fn start(c: &Conn, nic: &Nic) {
    let mut guard = c.lock();
    let s = &mut *guard;
    let Phase::HandingOff {
        outcome: Some(Ok(cid)),
    } = s.phase()
    else {
        return;
    };
    let next = Phase::Offloaded {
        cid,
        leaving: Leaving::No,
    };
    enter(c, s, next);
    push(c, s, nic, true);
    if nic.submit_cmd(&Command::Recvd { cid, len: 0 }).is_ok() {
        c.stat(Stat::CmdRecvd);
    }
}

/// The connection record on the NIC's bus (`vnic/offload.rs`).
impl crate::vnic::offload::Endpoint for Conn {
    fn handoff_done(&self, answer: crate::vnic::offload::Answer) {
        use crate::vnic::offload::Answer;
        let r = match answer {
            Answer::Accepted(cid) => Ok(cid),
            Answer::Refused(r) => Err(Refused::Nic(r)),
            Answer::Garbled => Err(Refused::BadAnswer),
        };
        handoff_result(self, r);
    }

    fn dma_read(&self, region: Region, off: usize, buf: &mut [u8]) -> Result {
        ring_read(self, region, off, buf)
    }

    fn dma_write(&self, region: Region, off: usize, data: &[u8]) -> Result {
        ring_write(self, region, off, data)
    }

    fn event(&self, nic: &Nic, g: &Guard<'_>, ev: &HostEvent<'_>) {
        on_event(nic, self, g, ev);
    }

    fn nic_failed(&self) {
        nic_failed(self);
    }

    fn describe(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&describe(self), f)
    }

    fn hold_socket(&self) -> *mut bindings::sock {
        // SAFETY: the record's socket is alive while the record is (see
        // `Conn::sock`); the reference is the caller's to drop.
        unsafe { bindings::handoff_sock_hold(self.sk) };
        self.sk
    }
}
