// SPDX-License-Identifier: GPL-2.0

//! What the bypass layer tells the NIC: `send` references for written
//! bytes, receive space (`post`), consumed-byte reports (`recvd`), the FIN
//! and socket options (`ctrl`).

use kernel::prelude::*;

use super::rings::*;
use super::*;
use crate::firmware::msg::MSG_PSH;
use crate::firmware::{msg, Command};
use crate::stats::Stat;
use crate::vnic::{offload, Nic, Region};

/// Largest `send`/`post` reference (the message's 16-bit length).
const MAX_REF: u64 = 65535;
/// Granule in which receive space is posted to the NIC.
const POST_CHUNK: u64 = 32 * 1024;

pub(crate) fn ctrl(c: &Conn, s: &mut Shared, nic: &Nic, cmd: msg::CtrlCmd, arg: u64) -> Result {
    nic.submit_cmd(&Command::Ctrl {
        cid: s.cid(),
        cmd,
        arg,
    })?;
    c.stat(Stat::CmdCtrl);
    Ok(())
}

/// Hands everything the NIC may take over: `send` references for written
/// bytes, receive space, consumed-byte reports, and the FIN once all data
/// went. Stops at the first full command ring (`need_push`, retried from
/// process context).
pub(crate) fn push(c: &Conn, s: &mut Shared, nic: &Nic, psh: bool) {
    if !s.phase().takes_data() {
        return;
    }
    let cid = s.cid();
    let cap = c.snd.len() as u64;
    while s.snd_nrefs < SEND_REFS && s.snd_sent < s.snd_tail {
        let off = ring_off(s.snd_sent, cap);
        let n = (s.snd_tail - s.snd_sent).min(cap - off).min(MAX_REF);
        let last = s.snd_sent + n == s.snd_tail;
        let cmd = Command::Send {
            cid,
            addr: offload::host_addr(cid, Region::Send, off as u32),
            len: n as u16,
            flags: if last && psh { MSG_PSH } else { 0 },
        };
        if nic.submit_cmd(&cmd).is_err() {
            return retry_later(c, s);
        }
        c.stat(Stat::CmdSend);
        s.snd_refs[s.snd_nrefs] = s.snd_sent + n;
        s.snd_nrefs += 1;
        s.snd_sent += n;
    }
    if s.close_pending && s.snd_sent == s.snd_tail {
        if ctrl(c, s, nic, msg::CtrlCmd::Close, 0).is_err() {
            return retry_later(c, s);
        }
        s.close_pending = false;
        s.fin_sent = true;
    }
    let rcap = c.rcv.len() as u64;
    if s.rcv_unreported >= (rcap / 8).max(1) || (s.rcv_unreported > 0 && s.rcv_head == s.rcv_tail) {
        if nic
            .submit_cmd(&Command::Recvd {
                cid,
                len: s.rcv_unreported as u32,
            })
            .is_err()
        {
            return retry_later(c, s);
        }
        c.stat(Stat::CmdRecvd);
        s.rcv_unreported = 0;
    }
    while s.post_nrefs < POST_REFS && !s.peer_fin {
        let free = rcap - (s.rcv_posted - s.rcv_head);
        let off = ring_off(s.rcv_posted, rcap);
        let n = free.min(rcap - off).min(POST_CHUNK);
        // Post whole chunks, or the last piece before the ring wraps.
        if n == 0 || (n < POST_CHUNK && n != rcap - off) {
            break;
        }
        let cmd = Command::Post {
            cid,
            addr: offload::host_addr(cid, Region::Recv, off as u32),
            len: n as u16,
        };
        if nic.submit_cmd(&cmd).is_err() {
            return retry_later(c, s);
        }
        c.stat(Stat::CmdPost);
        s.post_refs[s.post_nrefs] = s.rcv_posted + n;
        s.post_nrefs += 1;
        s.rcv_posted += n;
    }
    s.need_push = false;
}

pub(crate) fn retry_later(c: &Conn, s: &mut Shared) {
    if !s.need_push {
        s.need_push = true;
        schedule(c);
    }
}

pub(crate) fn pop_refs(refs: &mut [u64], n: &mut usize, upto: u64) {
    let mut k = 0;
    while k < *n && refs[k] <= upto {
        k += 1;
    }
    refs.copy_within(k..*n, 0);
    *n -= k;
}
