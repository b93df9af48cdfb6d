//! hnic-fwcmd: encodes one OS -> NIC command message (firmware-sim's ring
//! format) and writes it, in a single write, to a file: normally an hnic
//! device's debugfs `command` file, which posts it on the command ring.
//!
//! ```text
//! hnic-fwcmd handoff --cookie C --local ADDR:PORT --remote ADDR:PORT --to FILE
//! hnic-fwcmd restore --cid N [--cookie C] --to FILE
//! hnic-fwcmd garbage --to FILE          # 16 bytes no firmware accepts
//! ```
//!
//! `handoff` describes an idle ESTABLISHED connection (nothing in flight,
//! MSS 1460, 64 KiB windows): enough for the firmware to take it on.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use firmware_sim::{Command, Snapshot};

fn arg(v: &[String], name: &str) -> Option<String> {
    v.iter()
        .position(|a| a == name)
        .and_then(|i| v.get(i + 1).cloned())
}

fn addr16(ip: IpAddr) -> [u8; 16] {
    let mut a = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => a[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a = v6.octets(),
    }
    a
}

fn snapshot(local: SocketAddr, remote: SocketAddr) -> Result<Snapshot, String> {
    if local.is_ipv4() != remote.is_ipv4() {
        return Err("--local and --remote must be the same IP version".into());
    }
    let iss = 1_000_000u32;
    let irs = 2_000_000u32;
    Ok(Snapshot {
        ip_version: if local.is_ipv4() { 4 } else { 6 },
        local_port: local.port(),
        remote_port: remote.port(),
        local_addr: addr16(local.ip()),
        remote_addr: addr16(remote.ip()),
        mss: 1460,
        snd_una: iss,
        snd_nxt: iss,
        snd_max: iss,
        snd_wnd: 65535,
        max_snd_wnd: 65535,
        snd_wl1: irs,
        snd_wl2: iss,
        recover: iss,
        cwnd: 10 * 1460,
        rcv_nxt: irs,
        rcv_adv: irs.wrapping_add(65535),
        ..Snapshot::default()
    })
}

fn run() -> Result<(), String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let to = arg(&v, "--to").ok_or("--to missing")?;
    let num = |name: &str| -> Result<Option<u64>, String> {
        arg(&v, name)
            .map(|s| s.parse::<u64>().map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    let sock = |name: &str| -> Result<SocketAddr, String> {
        arg(&v, name)
            .ok_or(format!("{name} missing"))?
            .parse()
            .map_err(|e| format!("{name}: {e}"))
    };
    let cmd = match v.first().map(String::as_str) {
        Some("handoff") => Command::Handoff {
            cookie: num("--cookie")?.unwrap_or(1),
            snap: snapshot(sock("--local")?, sock("--remote")?)?,
        },
        Some("restore") => Command::Restore {
            cid: num("--cid")?.ok_or("--cid missing")? as u32,
            cookie: num("--cookie")?.unwrap_or(0),
        },
        Some("garbage") => {
            return std::fs::write(&to, [0xeeu8; 16]).map_err(|e| format!("{to}: {e}"))
        }
        _ => return Err("usage: hnic-fwcmd handoff|restore|garbage ... --to FILE".into()),
    };
    let mut buf = vec![0u8; cmd.encoded_len()];
    let n = cmd.encode(&mut buf).map_err(|e| format!("encode: {e:?}"))?;
    std::fs::write(&to, &buf[..n]).map_err(|e| format!("{to}: {e}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hnic-fwcmd: {e}");
            ExitCode::FAILURE
        }
    }
}
