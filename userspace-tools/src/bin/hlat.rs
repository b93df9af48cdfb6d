//! hlat: per-connection latencies of accept, handoff, restore, re-handoff.
//!
//! ```text
//! hlat server --addr A --port P --conns C [--restore] [--dir DIR] [--verbose]
//! hlat client --addr A --port P --conns C
//! ```
//!
//! The client opens C connections one after the other. For each, the
//! server waits until the connection is in the accept queue (`poll`), then
//! times, in nanoseconds (CLOCK_MONOTONIC around the one system call):
//!
//! * `accept`: the `accept(2)` (under the handoff policy this includes the
//!   policy's marking in the accept path);
//! * `first_send`: the first `send(2)` of 1 byte: under the policy it is the
//!   call that hands the connection off, natively a plain send;
//!
//! then waits for the client's 1-byte reply (the connection is idle), and
//! with `--restore`:
//!
//! * `restore`: one `write(2)` of the socket's cookie (`SO_COOKIE`, decimal)
//!   to `DIR/restore` (default DIR `/proc/sys/net/handoff`): the
//!   connection goes back to the host stack;
//! * `offload`: the same write to `DIR/offload`: it is handed off again.
//!
//! Then it sends a last byte; the client reads it and closes first (the
//! client keeps TIME_WAIT), the server reads EOF and closes. Output: with
//! `--verbose` one `hlat conn=I accept_ns=.. first_send_ns=.. [restore_ns=..
//! restore=OK|ERRNO offload_ns=.. offload=OK|ERRNO]` line per connection,
//! and always one line per measure:
//!
//! `hlat stat=NAME n=N median_ns=M p99_ns=P min_ns=L max_ns=H`
//!
//! The server exits 1 if a restore or offload write failed (after printing).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use userspace_tools::sock::{arg, arg_or, connect_retry, cookie, flag, no_setup, result_name};

const USAGE: &str =
    "usage: hlat server --addr A --port P --conns C [--restore] [--dir DIR] [--verbose]
       hlat client --addr A --port P --conns C
  times accept(), the first send() (the handoff under the policy) and, with
  --restore, a write of the socket cookie to DIR/restore then DIR/offload
  (default DIR /proc/sys/net/handoff); prints median and p99 per measure";

/// (median, p99, min, max) of `v` (sorted in place); zeros when empty.
fn stats(v: &mut [u128]) -> (u128, u128, u128, u128) {
    if v.is_empty() {
        return (0, 0, 0, 0);
    }
    v.sort_unstable();
    let n = v.len();
    let p99 = v[(n * 99).div_ceil(100).max(1) - 1];
    (v[n / 2], p99, v[0], v[n - 1])
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, u128) {
    let t0 = Instant::now();
    let r = f();
    (r, t0.elapsed().as_nanos())
}

/// Waits (up to 10 s) until `l` has a connection to accept.
fn wait_readable(l: &TcpListener) -> std::io::Result<()> {
    let mut p = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    match unsafe { libc::poll(&mut p, 1, 10_000) } {
        1 => Ok(()),
        0 => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no connection within 10 s",
        )),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// One write of `value\n` to an already open sysctl file.
fn sysctl_write(f: &mut std::fs::File, value: &str) -> (String, u128) {
    let line = format!("{value}\n");
    let (r, ns) = timed(|| f.write(line.as_bytes()));
    let r = r.and_then(|n| {
        if n == line.len() {
            Ok(())
        } else {
            Err(std::io::Error::other("short write"))
        }
    });
    (result_name(&r), ns)
}

fn open_w(dir: &std::path::Path, name: &str) -> std::io::Result<std::fs::File> {
    let p = dir.join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))
}

fn server(
    addr: SocketAddr,
    conns: u32,
    restore: bool,
    dir: PathBuf,
    verbose: bool,
) -> std::io::Result<bool> {
    let l = TcpListener::bind(addr)?;
    let (mut acc, mut first, mut rest, mut off) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut all_ok = true;
    let mut b = [0u8; 1];
    for conn in 0..conns {
        wait_readable(&l)?;
        let (r, a_ns) = timed(|| l.accept());
        let mut s: TcpStream = r?.0;
        let (r, f_ns) = timed(|| (&s).write(b"a"));
        r?;
        s.read_exact(&mut b)?;
        acc.push(a_ns);
        first.push(f_ns);
        let mut line = format!("hlat conn={conn} accept_ns={a_ns} first_send_ns={f_ns}");
        if restore {
            // Opened beforehand: only the write is timed.
            let (mut fr, mut fo) = (open_w(&dir, "restore")?, open_w(&dir, "offload")?);
            let c = cookie(s.as_raw_fd())?.to_string();
            let (rr, r_ns) = sysctl_write(&mut fr, &c);
            let (ro, o_ns) = sysctl_write(&mut fo, &c);
            all_ok &= rr == "OK" && ro == "OK";
            if rr == "OK" {
                rest.push(r_ns);
            }
            if ro == "OK" {
                off.push(o_ns);
            }
            line += &format!(" restore_ns={r_ns} restore={rr} offload_ns={o_ns} offload={ro}");
            if rr != "OK" || ro != "OK" {
                eprintln!("hlat: conn {conn} cookie {c}: restore {rr}, offload {ro}");
            }
        }
        s.write_all(b"z")?;
        let mut rest_buf = [0u8; 16];
        while s.read(&mut rest_buf)? > 0 {}
        if verbose {
            println!("{line}");
        }
    }
    let mut measures = vec![("accept", acc), ("first_send", first)];
    if restore {
        measures.push(("restore", rest));
        measures.push(("offload", off));
    }
    for (name, mut v) in measures {
        let (med, p99, min, max) = stats(&mut v);
        println!(
            "hlat stat={name} n={} median_ns={med} p99_ns={p99} min_ns={min} max_ns={max}",
            v.len()
        );
    }
    Ok(all_ok)
}

fn client(addr: SocketAddr, conns: u32) -> std::io::Result<()> {
    let mut b = [0u8; 1];
    for _ in 0..conns {
        let mut s = connect_retry(addr, &no_setup)?;
        s.read_exact(&mut b)?;
        s.write_all(b"b")?;
        s.read_exact(&mut b)?;
        if b != *b"z" {
            return Err(std::io::Error::other("wrong byte from the server"));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let v: Vec<String> = std::env::args().skip(1).collect();
    if v.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let parsed = (|| -> Result<(bool, SocketAddr, u32), String> {
        let is_server = match v.first().map(String::as_str) {
            Some("server") => true,
            Some("client") => false,
            _ => return Err("first argument must be 'server' or 'client'".into()),
        };
        let ip: IpAddr = arg(&v, "--addr")
            .ok_or("--addr missing")?
            .parse()
            .map_err(|e| format!("--addr: {e}"))?;
        let port: u16 = arg(&v, "--port")
            .ok_or("--port missing")?
            .parse()
            .map_err(|e| format!("--port: {e}"))?;
        let conns = arg_or(&v, "--conns", 1)?;
        Ok((is_server, SocketAddr::new(ip, port), conns))
    })();
    let (is_server, addr, conns) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hlat: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let r = if is_server {
        let dir = PathBuf::from(arg(&v, "--dir").unwrap_or_else(|| "/proc/sys/net/handoff".into()));
        server(
            addr,
            conns,
            flag(&v, "--restore"),
            dir,
            flag(&v, "--verbose"),
        )
    } else {
        client(addr, conns).map(|()| true)
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("hlat: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stats;

    #[test]
    fn median_and_p99() {
        let mut v: Vec<u128> = (1..=100).rev().collect();
        assert_eq!(stats(&mut v), (51, 99, 1, 100));
        let mut one = vec![7];
        assert_eq!(stats(&mut one), (7, 7, 7, 7));
        assert_eq!(stats(&mut []), (0, 0, 0, 0));
    }
}
