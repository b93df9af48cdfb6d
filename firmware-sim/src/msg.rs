//! The handoff interface (paper §3.3) as ring messages.
//!
//! Every message starts with the same 16-byte little-endian header:
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 1 | kind | [`Kind`] |
//! | 1 | 1 | flags | per kind (`send`/`recv`: [`MSG_PSH`]; `restore` event: [`RestoreReason`]; `info` event: 0) |
//! | 2 | 2 | len16 | byte length (`send`, `post`, `forward`, `recv`), ctrl/resource code, handoff result |
//! | 4 | 4 | cid | connection id (`u32::MAX` where none applies) |
//! | 8 | 8 | arg | host address, a 64-bit length, a ctrl argument, or the host's cookie |
//!
//! Only `handoff` (command) and `restore` and `info` (events) are longer: they
//! are followed by a [`Snapshot`] of [`SNAPSHOT_LEN`] bytes; `recv_data` is
//! followed by `len16` bytes of payload (used only to hand back staged data on
//! restore).
//!
//! | kind | dir | name | len16 | cid | arg |
//! |---|---|---|---|---|---|
//! | 0x01 | OS→NIC | handoff | 0 | – | cookie |
//! | 0x02 | OS→NIC | restore | 0 | cid | cookie |
//! | 0x03 | OS→NIC | send | bytes (1..=65535) | cid | host address |
//! | 0x04 | OS→NIC | recvd | 0 | cid | bytes consumed |
//! | 0x05 | OS→NIC | ctrl | [`CtrlCmd`] | cid | argument |
//! | 0x06 | OS→NIC | forward | bytes | cid | host address of an Ethernet frame |
//! | 0x07 | OS→NIC | post | bytes | cid | host address of a receive buffer |
//! | 0x08 | OS→NIC | info | 0 | cid | cookie |
//! | 0x81 | NIC→OS | handoff_done | 0 or [`Refusal`] | new cid | cookie |
//! | 0x82 | NIC→OS | restore | 0 | cid | cookie (0 if NIC-initiated) |
//! | 0x83 | NIC→OS | recv | bytes | cid | host address written |
//! | 0x84 | NIC→OS | ack | 0 | cid | bytes acknowledged |
//! | 0x85 | NIC→OS | ctrl | [`CtrlEvent`] | cid | argument (errno, reason, idle ms) |
//! | 0x86 | NIC→OS | resource | [`ResourceKind`] | cid or `u32::MAX` | count |
//! | 0x87 | NIC→OS | recv_data | bytes | cid | 0 (payload follows) |
//! | 0x88 | NIC→OS | info | 0 | cid | cookie (snapshot follows) |
//!
//! `info` queries a live connection without taking it back: the reply carries
//! the same snapshot a `restore` would (RTT, cwnd, ssthresh, retransmissions,
//! windows...), so the host can report the NIC's view in `TCP_INFO`; the
//! connection is not changed in any way.

use super::snapshot::{Snapshot, SNAPSHOT_LEN};

/// Size of every message header, and of every message except the three
/// carrying data or a snapshot.
pub const MSG_LEN: usize = 16;
/// Size of a `handoff` command and of a `restore` or `info` event.
pub const SNAPSHOT_MSG_LEN: usize = MSG_LEN + SNAPSHOT_LEN;
/// `cid` value used where no connection applies.
pub const NO_CID: u32 = u32::MAX;
/// `send`/`recv` flag: push (the data ends a host write / a peer PSH).
pub const MSG_PSH: u8 = 1;
/// `send` flag: urgent (out-of-band) data; refused by this firmware.
pub const MSG_OOB: u8 = 2;

/// Message kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// OS→NIC handoff.
    Handoff = 0x01,
    /// OS→NIC restore.
    Restore = 0x02,
    /// OS→NIC send.
    Send = 0x03,
    /// OS→NIC recvd.
    Recvd = 0x04,
    /// OS→NIC ctrl.
    Ctrl = 0x05,
    /// OS→NIC forward.
    Forward = 0x06,
    /// OS→NIC post.
    Post = 0x07,
    /// OS→NIC info (query a live connection's state).
    Info = 0x08,
    /// NIC→OS handoff result.
    HandoffDone = 0x81,
    /// NIC→OS restore.
    RestoreEv = 0x82,
    /// NIC→OS recv.
    Recv = 0x83,
    /// NIC→OS ack.
    Ack = 0x84,
    /// NIC→OS ctrl.
    CtrlEv = 0x85,
    /// NIC→OS resource.
    Resource = 0x86,
    /// NIC→OS inline receive data.
    RecvData = 0x87,
    /// NIC→OS info (a live connection's state).
    InfoEv = 0x88,
}

/// Why a message could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgError {
    /// Shorter than its kind requires.
    Truncated,
    /// Unknown kind byte (or a NIC→OS kind sent to the NIC).
    UnknownKind,
    /// A field is out of range (zero length, unknown ctrl code, bad state...).
    BadValue,
    /// Snapshot version not understood.
    BadVersion,
}

/// OS→NIC `ctrl` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CtrlCmd {
    /// `shutdown(SHUT_WR)`/`close()`: send FIN after the queued data.
    Close = 1,
    /// Abortive close: send RST and free the connection.
    Abort = 2,
    /// TCP_NODELAY; arg 0 or 1.
    NoDelay = 3,
    /// SO_KEEPALIVE; arg 0 disables, otherwise the idle time in ms.
    KeepAlive = 4,
}

impl CtrlCmd {
    fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => CtrlCmd::Close,
            2 => CtrlCmd::Abort,
            3 => CtrlCmd::NoDelay,
            4 => CtrlCmd::KeepAlive,
            _ => return None,
        })
    }
}

/// A protocol code: a `u16` (or `u8`) on the wire, an enum in the code,
/// with the values this side does not know kept as `Unknown` so that a
/// newer peer's event is counted and skipped, never misread.
macro_rules! protocol_code {
    ($name:ident: $repr:ty { $($(#[$doc:meta])* $variant:ident = $code:literal,)* }) => {
        impl $name {
            /// The wire value.
            pub fn code(self) -> $repr {
                match self {
                    $($name::$variant => $code,)*
                    $name::Unknown(v) => v,
                }
            }

            /// The wire value decoded (`Unknown` for values not listed).
            pub fn from_code(v: $repr) -> Self {
                match v {
                    $($code => $name::$variant,)*
                    other => $name::Unknown(other),
                }
            }
        }
    };
}

/// NIC→OS `ctrl` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtrlEvent {
    /// The peer's FIN arrived (after all data before it was delivered).
    PeerFin,
    /// The peer reset the connection; arg is an errno (ECONNRESET).
    PeerRst,
    /// Retransmissions or keepalives gave up; arg is an errno (ETIMEDOUT).
    TimedOut,
    /// The NIC de-allocated the connection; the cid is free.
    Freed,
    /// The NIC asks the host to take this connection back (memory
    /// pressure, the paper's `ch_os_restore`); arg is how long the
    /// connection has been idle, in ms. The connection keeps running on the
    /// NIC; the host answers, if at all, with an ordinary `restore` command.
    RestoreRequest,
    /// A code this side does not know.
    Unknown(u16),
}

protocol_code!(CtrlEvent: u16 { PeerFin = 1, PeerRst = 2, TimedOut = 3, Freed = 4, RestoreRequest = 5, });

/// errno values carried in ctrl events (Linux numbering).
pub mod errno {
    /// Connection reset by peer.
    pub const ECONNRESET: u64 = 104;
    /// Connection timed out.
    pub const ETIMEDOUT: u64 = 110;
    /// Connection aborted by the host.
    pub const ECONNABORTED: u64 = 103;
}

/// NIC resources advertised with `resource` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// Free connection slots.
    ConnSlots,
    /// Free (addr, len) references (send refs and posted buffers share a pool).
    Refs,
    /// Free receive staging bytes.
    Staging,
    /// A code this side does not know.
    Unknown(u16),
}

protocol_code!(ResourceKind: u16 { ConnSlots = 1, Refs = 2, Staging = 3, });

/// Why a handoff or command was refused (`handoff_done.len16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Connection table full.
    NoConnSlot,
    /// The 4-tuple is already offloaded.
    Duplicate,
    /// The snapshot failed validation.
    BadSnapshot,
    /// Reference pool exhausted.
    NoRefs,
    /// The cid does not name a live connection.
    BadCid,
    /// Out-of-band data is not supported.
    Unsupported,
    /// The connection can no longer send (FIN queued or sent).
    Shutdown,
    /// A code this side does not know (0 is success, never a refusal).
    Unknown(u16),
}

protocol_code!(Refusal: u16 {
    NoConnSlot = 1, Duplicate = 2, BadSnapshot = 3, NoRefs = 4, BadCid = 5, Unsupported = 6, Shutdown = 7,
});

/// Why a connection is handed back with a `restore` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreReason {
    /// The host asked (`restore` command).
    HostRequest,
    /// The connection entered TIME_WAIT (paper §3.3).
    TimeWait,
    /// A code this side does not know.
    Unknown(u8),
}

protocol_code!(RestoreReason: u8 { HostRequest = 0, TimeWait = 1, });

/// A decoded OS→NIC command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Offload a connection; the reply is a `handoff_done` carrying `cookie`.
    Handoff {
        /// Host cookie echoed in the reply.
        cookie: u64,
        /// Connection state.
        snap: Snapshot,
    },
    /// Take a connection back.
    Restore {
        /// Connection.
        cid: u32,
        /// Host cookie echoed in the `restore` event.
        cookie: u64,
    },
    /// Enqueue `len` bytes at host address `addr` for sending.
    Send {
        /// Connection.
        cid: u32,
        /// Host address.
        addr: u64,
        /// Length.
        len: u16,
        /// `MSG_*` flags.
        flags: u8,
    },
    /// The host consumed `len` received bytes.
    Recvd {
        /// Connection.
        cid: u32,
        /// Bytes consumed.
        len: u32,
    },
    /// Control operation.
    Ctrl {
        /// Connection.
        cid: u32,
        /// Operation.
        cmd: CtrlCmd,
        /// Argument.
        arg: u64,
    },
    /// Process the Ethernet frame at `addr` as if received from the wire.
    Forward {
        /// Connection the host believes it belongs to.
        cid: u32,
        /// Host address of the frame.
        addr: u64,
        /// Frame length.
        len: u16,
    },
    /// A host receive buffer for this connection.
    Post {
        /// Connection.
        cid: u32,
        /// Host address.
        addr: u64,
        /// Length.
        len: u16,
    },
    /// Report a live connection's state (for the host's `TCP_INFO`) with an
    /// `info` event carrying `cookie`; the connection is not changed.
    Info {
        /// Connection.
        cid: u32,
        /// Host cookie echoed in the `info` event.
        cookie: u64,
    },
}

/// A NIC→OS event. `Restore`, `Info` and `RecvData` borrow their payload so the
/// engine never copies a snapshot or staged data onto its stack twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Reply to `handoff`: `result` is `Ok(cid)` or the refusal.
    HandoffDone {
        /// Host cookie from the command.
        cookie: u64,
        /// New cid or why not.
        result: Result<u32, Refusal>,
    },
    /// The connection is handed back; the NIC has freed the cid.
    Restore {
        /// Connection.
        cid: u32,
        /// Cookie of the host's `restore` command, 0 if NIC-initiated.
        cookie: u64,
        /// Why.
        reason: RestoreReason,
        /// State to continue from.
        snap: &'a Snapshot,
    },
    /// `len` received bytes were written at host address `addr`.
    Recv {
        /// Connection.
        cid: u32,
        /// Host address.
        addr: u64,
        /// Length.
        len: u16,
        /// `MSG_PSH` if the peer pushed.
        flags: u8,
    },
    /// `len` bytes from the head of the host send buffer were acknowledged.
    Ack {
        /// Connection.
        cid: u32,
        /// Bytes.
        len: u32,
    },
    /// State change.
    Ctrl {
        /// Connection.
        cid: u32,
        /// What happened.
        ev: CtrlEvent,
        /// errno or reason.
        arg: u64,
    },
    /// Resource availability (also sent on a refusal).
    Resource {
        /// Connection concerned, or [`NO_CID`].
        cid: u32,
        /// Resource.
        kind: ResourceKind,
        /// Number of free items.
        num: u64,
    },
    /// Received bytes handed back inline (only before a `Restore`).
    RecvData {
        /// Connection.
        cid: u32,
        /// Data.
        data: &'a [u8],
    },
    /// Reply to `info`: the state of a connection that stays on the NIC.
    Info {
        /// Connection.
        cid: u32,
        /// Cookie of the host's `info` command.
        cookie: u64,
        /// The connection's current state (as a `restore` would export it).
        snap: &'a Snapshot,
    },
}

fn header(
    buf: &mut [u8],
    kind: Kind,
    flags: u8,
    len16: u16,
    cid: u32,
    arg: u64,
) -> Result<(), MsgError> {
    let h = buf.get_mut(..MSG_LEN).ok_or(MsgError::Truncated)?;
    h[0] = kind as u8;
    h[1] = flags;
    h[2..4].copy_from_slice(&len16.to_le_bytes());
    h[4..8].copy_from_slice(&cid.to_le_bytes());
    h[8..16].copy_from_slice(&arg.to_le_bytes());
    Ok(())
}

struct Header {
    kind: u8,
    flags: u8,
    len16: u16,
    cid: u32,
    arg: u64,
}

fn parse_header(buf: &[u8]) -> Result<Header, MsgError> {
    let h = buf.get(..MSG_LEN).ok_or(MsgError::Truncated)?;
    Ok(Header {
        kind: h[0],
        flags: h[1],
        len16: u16::from_le_bytes([h[2], h[3]]),
        cid: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
        arg: u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
    })
}

impl Command {
    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        match self {
            Command::Handoff { .. } => SNAPSHOT_MSG_LEN,
            _ => MSG_LEN,
        }
    }

    /// Encodes into the front of `buf`, returning the length written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, MsgError> {
        match *self {
            Command::Handoff { cookie, ref snap } => {
                header(buf, Kind::Handoff, 0, 0, NO_CID, cookie)?;
                snap.encode(buf.get_mut(MSG_LEN..).ok_or(MsgError::Truncated)?)?;
            }
            Command::Restore { cid, cookie } => header(buf, Kind::Restore, 0, 0, cid, cookie)?,
            Command::Send {
                cid,
                addr,
                len,
                flags,
            } => header(buf, Kind::Send, flags, len, cid, addr)?,
            Command::Recvd { cid, len } => header(buf, Kind::Recvd, 0, 0, cid, u64::from(len))?,
            Command::Ctrl { cid, cmd, arg } => header(buf, Kind::Ctrl, 0, cmd as u16, cid, arg)?,
            Command::Forward { cid, addr, len } => header(buf, Kind::Forward, 0, len, cid, addr)?,
            Command::Post { cid, addr, len } => header(buf, Kind::Post, 0, len, cid, addr)?,
            Command::Info { cid, cookie } => header(buf, Kind::Info, 0, 0, cid, cookie)?,
        }
        Ok(self.encoded_len())
    }

    /// Decodes one command from the front of `buf`, returning it and its
    /// length. Every field is range-checked; nothing here can panic.
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), MsgError> {
        let h = parse_header(buf)?;
        let nonzero = |l: u16| {
            if l == 0 {
                Err(MsgError::BadValue)
            } else {
                Ok(l)
            }
        };
        let c = match h.kind {
            0x01 => {
                let snap = Snapshot::decode(buf.get(MSG_LEN..).ok_or(MsgError::Truncated)?)?;
                return Ok((
                    Command::Handoff {
                        cookie: h.arg,
                        snap,
                    },
                    SNAPSHOT_MSG_LEN,
                ));
            }
            0x02 => Command::Restore {
                cid: h.cid,
                cookie: h.arg,
            },
            0x03 => Command::Send {
                cid: h.cid,
                addr: h.arg,
                len: nonzero(h.len16)?,
                flags: h.flags,
            },
            0x04 => Command::Recvd {
                cid: h.cid,
                len: u32::try_from(h.arg).map_err(|_| MsgError::BadValue)?,
            },
            0x05 => Command::Ctrl {
                cid: h.cid,
                cmd: CtrlCmd::from_u16(h.len16).ok_or(MsgError::BadValue)?,
                arg: h.arg,
            },
            0x06 => Command::Forward {
                cid: h.cid,
                addr: h.arg,
                len: nonzero(h.len16)?,
            },
            0x07 => Command::Post {
                cid: h.cid,
                addr: h.arg,
                len: nonzero(h.len16)?,
            },
            0x08 => Command::Info {
                cid: h.cid,
                cookie: h.arg,
            },
            _ => return Err(MsgError::UnknownKind),
        };
        Ok((c, MSG_LEN))
    }
}

impl Event<'_> {
    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        match self {
            Event::Restore { .. } | Event::Info { .. } => SNAPSHOT_MSG_LEN,
            Event::RecvData { data, .. } => MSG_LEN + data.len(),
            _ => MSG_LEN,
        }
    }

    /// Encodes into the front of `buf`, returning the length written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, MsgError> {
        match *self {
            Event::HandoffDone { cookie, result } => {
                let (cid, code) = match result {
                    Ok(cid) => (cid, 0),
                    Err(r) => (NO_CID, r.code()),
                };
                header(buf, Kind::HandoffDone, 0, code, cid, cookie)?
            }
            Event::Restore {
                cid,
                cookie,
                reason,
                snap,
            } => {
                header(buf, Kind::RestoreEv, reason.code(), 0, cid, cookie)?;
                snap.encode(buf.get_mut(MSG_LEN..).ok_or(MsgError::Truncated)?)?;
            }
            Event::Recv {
                cid,
                addr,
                len,
                flags,
            } => header(buf, Kind::Recv, flags, len, cid, addr)?,
            Event::Ack { cid, len } => header(buf, Kind::Ack, 0, 0, cid, u64::from(len))?,
            Event::Ctrl { cid, ev, arg } => header(buf, Kind::CtrlEv, 0, ev.code(), cid, arg)?,
            Event::Resource { cid, kind, num } => {
                header(buf, Kind::Resource, 0, kind.code(), cid, num)?
            }
            Event::RecvData { cid, data } => {
                let len = u16::try_from(data.len()).map_err(|_| MsgError::BadValue)?;
                let dst = buf
                    .get_mut(MSG_LEN..MSG_LEN + data.len())
                    .ok_or(MsgError::Truncated)?;
                dst.copy_from_slice(data);
                header(buf, Kind::RecvData, 0, len, cid, 0)?
            }
            Event::Info { cid, cookie, snap } => {
                header(buf, Kind::InfoEv, 0, 0, cid, cookie)?;
                snap.encode(buf.get_mut(MSG_LEN..).ok_or(MsgError::Truncated)?)?;
            }
        }
        Ok(self.encoded_len())
    }
}

/// A decoded NIC→OS event header, as the host sees it. `Restore` and `Info`
/// carry their snapshot by value; `RecvData` points at its payload in the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEvent<'a> {
    /// See [`Event::HandoffDone`].
    HandoffDone {
        /// Cookie.
        cookie: u64,
        /// Result.
        result: Result<u32, Refusal>,
    },
    /// See [`Event::Restore`].
    Restore {
        /// Connection.
        cid: u32,
        /// Cookie.
        cookie: u64,
        /// Why the NIC handed it back.
        reason: RestoreReason,
        /// State.
        snap: Snapshot,
    },
    /// See [`Event::Recv`].
    Recv {
        /// Connection.
        cid: u32,
        /// Address.
        addr: u64,
        /// Length.
        len: u16,
        /// Flags.
        flags: u8,
    },
    /// See [`Event::Ack`].
    Ack {
        /// Connection.
        cid: u32,
        /// Bytes.
        len: u64,
    },
    /// See [`Event::Ctrl`].
    Ctrl {
        /// Connection.
        cid: u32,
        /// Event.
        ev: CtrlEvent,
        /// Argument.
        arg: u64,
    },
    /// See [`Event::Resource`].
    Resource {
        /// Connection.
        cid: u32,
        /// Resource.
        kind: ResourceKind,
        /// Count.
        num: u64,
    },
    /// See [`Event::RecvData`].
    RecvData {
        /// Connection.
        cid: u32,
        /// Data.
        data: &'a [u8],
    },
    /// See [`Event::Info`].
    Info {
        /// Connection.
        cid: u32,
        /// Cookie.
        cookie: u64,
        /// State.
        snap: Snapshot,
    },
}

impl<'a> HostEvent<'a> {
    /// Decodes one event from the front of `buf` (host side of the ring).
    pub fn decode(buf: &'a [u8]) -> Result<(Self, usize), MsgError> {
        let h = parse_header(buf)?;
        let e = match h.kind {
            0x81 => HostEvent::HandoffDone {
                cookie: h.arg,
                result: if h.len16 == 0 {
                    Ok(h.cid)
                } else {
                    Err(Refusal::from_code(h.len16))
                },
            },
            0x82 => {
                let snap = Snapshot::decode(buf.get(MSG_LEN..).ok_or(MsgError::Truncated)?)?;
                return Ok((
                    HostEvent::Restore {
                        cid: h.cid,
                        cookie: h.arg,
                        reason: RestoreReason::from_code(h.flags),
                        snap,
                    },
                    SNAPSHOT_MSG_LEN,
                ));
            }
            0x83 => HostEvent::Recv {
                cid: h.cid,
                addr: h.arg,
                len: h.len16,
                flags: h.flags,
            },
            0x84 => HostEvent::Ack {
                cid: h.cid,
                len: h.arg,
            },
            0x85 => HostEvent::Ctrl {
                cid: h.cid,
                ev: CtrlEvent::from_code(h.len16),
                arg: h.arg,
            },
            0x86 => HostEvent::Resource {
                cid: h.cid,
                kind: ResourceKind::from_code(h.len16),
                num: h.arg,
            },
            0x87 => {
                let n = usize::from(h.len16);
                let data = buf.get(MSG_LEN..MSG_LEN + n).ok_or(MsgError::Truncated)?;
                return Ok((HostEvent::RecvData { cid: h.cid, data }, MSG_LEN + n));
            }
            0x88 => {
                let snap = Snapshot::decode(buf.get(MSG_LEN..).ok_or(MsgError::Truncated)?)?;
                return Ok((
                    HostEvent::Info {
                        cid: h.cid,
                        cookie: h.arg,
                        snap,
                    },
                    SNAPSHOT_MSG_LEN,
                ));
            }
            _ => return Err(MsgError::UnknownKind),
        };
        Ok((e, MSG_LEN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_roundtrip_table() {
        let cmds = [
            Command::Handoff {
                cookie: 0xdead_beef,
                snap: Snapshot {
                    mss: 1460,
                    rcv_buf: 1 << 20,
                    ..Snapshot::default()
                },
            },
            Command::Restore { cid: 7, cookie: 9 },
            Command::Send {
                cid: 1,
                addr: 0x1000,
                len: 4096,
                flags: MSG_PSH,
            },
            Command::Recvd {
                cid: 2,
                len: u32::MAX,
            },
            Command::Ctrl {
                cid: 3,
                cmd: CtrlCmd::Close,
                arg: 0,
            },
            Command::Ctrl {
                cid: 3,
                cmd: CtrlCmd::KeepAlive,
                arg: 1000,
            },
            Command::Forward {
                cid: 4,
                addr: 0xffff_ffff_ffff,
                len: 1514,
            },
            Command::Post {
                cid: 5,
                addr: 42,
                len: 65535,
            },
            Command::Info {
                cid: 6,
                cookie: 0xfeed_face_cafe,
            },
        ];
        for c in cmds {
            let mut buf = [0u8; SNAPSHOT_MSG_LEN];
            let n = c.encode(&mut buf).unwrap();
            assert_eq!(n, c.encoded_len());
            assert_eq!(Command::decode(&buf[..n]), Ok((c, n)));
            for short in 0..n {
                assert_eq!(
                    Command::decode(&buf[..short]).err(),
                    Some(MsgError::Truncated)
                );
            }
        }
        assert_eq!(MSG_LEN, 16);
        assert_eq!(SNAPSHOT_MSG_LEN, 176);
    }

    #[test]
    fn command_rejects() {
        let mut m = [0u8; 16];
        let cases: &[(u8, u16, u64, MsgError)] = &[
            (0x00, 0, 0, MsgError::UnknownKind),
            (0x81, 0, 0, MsgError::UnknownKind),
            (0x88, 0, 0, MsgError::UnknownKind),
            (0x09, 0, 0, MsgError::UnknownKind),
            (0xff, 0, 0, MsgError::UnknownKind),
            (0x03, 0, 0, MsgError::BadValue),
            (0x06, 0, 0, MsgError::BadValue),
            (0x07, 0, 0, MsgError::BadValue),
            (0x05, 0, 0, MsgError::BadValue),
            (0x05, 99, 0, MsgError::BadValue),
            (0x04, 0, 1 << 32, MsgError::BadValue),
            (0x01, 0, 0, MsgError::Truncated),
        ];
        for &(kind, len16, arg, err) in cases {
            m[0] = kind;
            m[2..4].copy_from_slice(&len16.to_le_bytes());
            m[8..16].copy_from_slice(&arg.to_le_bytes());
            assert_eq!(Command::decode(&m).err(), Some(err), "kind {kind:#x}");
        }
    }

    #[test]
    fn protocol_codes_are_stable_and_unknown_ones_kept() {
        assert_eq!(
            [
                CtrlEvent::PeerFin,
                CtrlEvent::PeerRst,
                CtrlEvent::TimedOut,
                CtrlEvent::Freed,
                CtrlEvent::RestoreRequest
            ]
            .map(CtrlEvent::code),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            [
                ResourceKind::ConnSlots,
                ResourceKind::Refs,
                ResourceKind::Staging
            ]
            .map(ResourceKind::code),
            [1, 2, 3]
        );
        assert_eq!(Refusal::NoConnSlot.code(), 1);
        assert_eq!(Refusal::Shutdown.code(), 7);
        assert_eq!(RestoreReason::TimeWait.code(), 1);
        for v in 0..300u16 {
            assert_eq!(CtrlEvent::from_code(v).code(), v);
            assert_eq!(Refusal::from_code(v).code(), v);
        }
        assert_eq!(CtrlEvent::from_code(0), CtrlEvent::Unknown(0));
        assert_eq!(Refusal::from_code(8), Refusal::Unknown(8));
        assert_eq!(RestoreReason::from_code(200), RestoreReason::Unknown(200));
        // A newer firmware's ctrl event decodes, as Unknown.
        let mut buf = [0u8; MSG_LEN];
        Event::Ctrl {
            cid: 1,
            ev: CtrlEvent::Unknown(42),
            arg: 7,
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(
            HostEvent::decode(&buf),
            Ok((
                HostEvent::Ctrl {
                    cid: 1,
                    ev: CtrlEvent::Unknown(42),
                    arg: 7
                },
                MSG_LEN
            ))
        );
    }

    #[test]
    fn event_roundtrip_table() {
        let snap = Snapshot {
            rcv_buf: 100,
            ..Snapshot::default()
        };
        let data = [1u8, 2, 3];
        let evs = [
            (
                Event::HandoffDone {
                    cookie: 1,
                    result: Ok(5),
                },
                HostEvent::HandoffDone {
                    cookie: 1,
                    result: Ok(5),
                },
            ),
            (
                Event::HandoffDone {
                    cookie: 2,
                    result: Err(Refusal::NoConnSlot),
                },
                HostEvent::HandoffDone {
                    cookie: 2,
                    result: Err(Refusal::NoConnSlot),
                },
            ),
            (
                Event::Restore {
                    cid: 3,
                    cookie: 0,
                    reason: RestoreReason::TimeWait,
                    snap: &snap,
                },
                HostEvent::Restore {
                    cid: 3,
                    cookie: 0,
                    reason: RestoreReason::TimeWait,
                    snap,
                },
            ),
            (
                Event::Recv {
                    cid: 4,
                    addr: 8,
                    len: 100,
                    flags: MSG_PSH,
                },
                HostEvent::Recv {
                    cid: 4,
                    addr: 8,
                    len: 100,
                    flags: 1,
                },
            ),
            (
                Event::Ack {
                    cid: 4,
                    len: 1 << 31,
                },
                HostEvent::Ack {
                    cid: 4,
                    len: 1 << 31,
                },
            ),
            (
                Event::Ctrl {
                    cid: 4,
                    ev: CtrlEvent::TimedOut,
                    arg: errno::ETIMEDOUT,
                },
                HostEvent::Ctrl {
                    cid: 4,
                    ev: CtrlEvent::TimedOut,
                    arg: 110,
                },
            ),
            (
                Event::Ctrl {
                    cid: 9,
                    ev: CtrlEvent::RestoreRequest,
                    arg: 1234,
                },
                HostEvent::Ctrl {
                    cid: 9,
                    ev: CtrlEvent::RestoreRequest,
                    arg: 1234,
                },
            ),
            (
                Event::Resource {
                    cid: NO_CID,
                    kind: ResourceKind::Refs,
                    num: 0,
                },
                HostEvent::Resource {
                    cid: NO_CID,
                    kind: ResourceKind::Refs,
                    num: 0,
                },
            ),
            (
                Event::RecvData {
                    cid: 6,
                    data: &data,
                },
                HostEvent::RecvData {
                    cid: 6,
                    data: &data,
                },
            ),
            (
                Event::Info {
                    cid: 7,
                    cookie: 0xfeed_face_cafe,
                    snap: &snap,
                },
                HostEvent::Info {
                    cid: 7,
                    cookie: 0xfeed_face_cafe,
                    snap,
                },
            ),
        ];
        for (ev, want) in evs {
            let mut buf = [0u8; 256];
            let n = ev.encode(&mut buf).unwrap();
            assert_eq!(n, ev.encoded_len());
            assert_eq!(HostEvent::decode(&buf[..n]), Ok((want, n)));
            assert!(ev.encode(&mut buf[..n - 1]).is_err());
            for short in 0..n {
                assert_eq!(
                    HostEvent::decode(&buf[..short]).err(),
                    Some(MsgError::Truncated),
                    "{ev:?} cut to {short}"
                );
            }
        }
    }

    #[test]
    fn info_kinds_and_layout() {
        assert_eq!(Kind::Info as u8, 0x08);
        assert_eq!(Kind::InfoEv as u8, 0x88);
        // The command is a bare header: kind, flags 0, len16 0, cid, cookie.
        let mut buf = [0u8; SNAPSHOT_MSG_LEN];
        let c = Command::Info {
            cid: 0x0102_0304,
            cookie: 0x1122_3344_5566_7788,
        };
        assert_eq!(c.encoded_len(), MSG_LEN);
        assert_eq!(c.encode(&mut buf), Ok(MSG_LEN));
        assert_eq!(
            buf[..MSG_LEN],
            [0x08, 0, 0, 0, 4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        );
        // The event is encoded exactly like a host-requested `restore`
        // (flags 0) except for the kind byte.
        let snap = Snapshot {
            rcv_buf: 100,
            srtt_us: 12_345,
            cwnd: 14_600,
            ..Snapshot::default()
        };
        let mut info = [0u8; SNAPSHOT_MSG_LEN];
        let mut restore = [0u8; SNAPSHOT_MSG_LEN];
        let ev = Event::Info {
            cid: 9,
            cookie: 77,
            snap: &snap,
        };
        assert_eq!(ev.encoded_len(), SNAPSHOT_MSG_LEN);
        assert_eq!(ev.encode(&mut info), Ok(SNAPSHOT_MSG_LEN));
        Event::Restore {
            cid: 9,
            cookie: 77,
            reason: RestoreReason::HostRequest,
            snap: &snap,
        }
        .encode(&mut restore)
        .unwrap();
        assert_eq!(info[0], 0x88);
        assert_eq!(info[1..], restore[1..]);
        // Not accepted in the other direction.
        assert_eq!(Command::decode(&info).err(), Some(MsgError::UnknownKind));
        assert_eq!(
            HostEvent::decode(&buf[..MSG_LEN]).err(),
            Some(MsgError::UnknownKind)
        );
    }
}
