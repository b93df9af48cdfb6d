//! hxfer: bidirectional TCP transfer with SHA-256 digests on both ends.
//!
//! ```text
//! hxfer server --addr 198.18.0.1 --port 5001 --bytes N [--conns C] [options]
//! hxfer client --addr 198.18.0.1 --port 5001 --bytes N [--conns C] [options]
//! ```
//!
//! Each side sends N pseudo-random bytes (seeded by direction and connection
//! index), shuts down its write side, and reads until EOF; both directions
//! at once. For every connection it prints one line:
//!
//! `hxfer conn=I sent=N sent_sha256=H recv=M recv_sha256=H`
//!
//! A test compares one side's `sent_sha256` with the other side's
//! `recv_sha256`. The exit status is non-zero on any I/O error. The client
//! opens all C connections before any data moves, so all C are open at once.
//!
//! Options (give the same ones to both sides):
//!
//! * `--echo` (client only): the server is an echo server (hecho); the
//!   client checks that what came back is exactly what it sent.
//! * `--half-close client|server`: that side sends its N bytes and shuts
//!   down its write side first; the other reads to EOF and only then sends
//!   its N bytes (data flows towards a socket that already sent its FIN).
//! * `--rst client|server`: abortive close. Neither side sends a FIN: each
//!   sends N bytes; the other side, having got N bytes, answers one ack
//!   byte; the named side, having got N bytes and the ack, closes with
//!   SO_LINGER 0 (RST). The other side must then see ECONNRESET (a clean
//!   EOF is an error). Lines end with `reset=sent` / `reset=seen`.
//! * `--idle S`: the connection stays idle S seconds before data moves
//!   (the client sleeps; the server waits for the client's first byte).
//! * `--keepalive S`: SO_KEEPALIVE with TCP_KEEPIDLE S, TCP_KEEPINTVL 1,
//!   TCP_KEEPCNT 5 on every socket (with `--idle` > S, probes must be
//!   answered or the connection dies).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use sha2::{Digest, Sha256};
use userspace_tools::pattern::Pattern;
use userspace_tools::sock::{abort, arg, connect_retry, flag, hex, no_setup, set_keepalive};

const CHUNK: usize = 64 * 1024;

const USAGE: &str = "usage: hxfer server|client --addr A --port P --bytes N [--conns C]
       [--echo] [--half-close client|server] [--rst client|server]
       [--idle SECS] [--keepalive SECS]
  SHA-256-verified transfer of N bytes each way per connection; see the
  source header (userspace-tools/src/bin/hxfer.rs) for the options.";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Both directions at once, each ending with a FIN.
    Both,
    /// The side (true: server) that sends and shuts down first.
    HalfClose(bool),
    /// The side (true: server) that aborts.
    Rst(bool),
}

struct Args {
    server: bool,
    addr: SocketAddr,
    bytes: u64,
    conns: u32,
    echo: bool,
    mode: Mode,
    idle: u64,
    keepalive: Option<i32>,
}

fn side(v: &str, opt: &str) -> Result<bool, String> {
    match v {
        "server" => Ok(true),
        "client" => Ok(false),
        _ => Err(format!("{opt}: 'client' or 'server'")),
    }
}

fn parse() -> Result<Args, String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| arg(&v, name);
    let server = match v.first().map(String::as_str) {
        Some("server") => true,
        Some("client") => false,
        _ => return Err("first argument must be 'server' or 'client'".into()),
    };
    let ip: IpAddr = get("--addr").ok_or("--addr missing")?.parse().map_err(|e| format!("--addr: {e}"))?;
    let port: u16 = get("--port").ok_or("--port missing")?.parse().map_err(|e| format!("--port: {e}"))?;
    let bytes = get("--bytes").ok_or("--bytes missing")?.parse().map_err(|e| format!("--bytes: {e}"))?;
    let conns = get("--conns").map(|c| c.parse()).transpose().map_err(|e| format!("--conns: {e}"))?.unwrap_or(1);
    let mode = match (get("--half-close"), get("--rst")) {
        (Some(_), Some(_)) => return Err("--half-close and --rst exclude each other".into()),
        (Some(s), None) => Mode::HalfClose(side(&s, "--half-close")?),
        (None, Some(s)) => Mode::Rst(side(&s, "--rst")?),
        (None, None) => Mode::Both,
    };
    let echo = flag(&v, "--echo");
    if echo && (server || mode != Mode::Both) {
        return Err("--echo is for a client in the default mode".into());
    }
    let idle = get("--idle").map(|c| c.parse()).transpose().map_err(|e| format!("--idle: {e}"))?.unwrap_or(0);
    let keepalive = get("--keepalive").map(|c| c.parse()).transpose().map_err(|e| format!("--keepalive: {e}"))?;
    Ok(Args { server, addr: SocketAddr::new(ip, port), bytes, conns, echo, mode, idle, keepalive })
}

/// Seeds differ per direction so that an echo would not pass as a transfer.
fn seed(server_sends: bool, conn: u32) -> u64 {
    (u64::from(conn) << 1) | u64::from(server_sends)
}

/// Sends `bytes` of the pattern for `seed`; returns their digest.
fn send_pattern(mut s: &TcpStream, bytes: u64, seed: u64, fin: bool) -> std::io::Result<String> {
    let mut pattern = Pattern::new(seed);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        pattern.fill(&mut buf[..n]);
        s.write_all(&buf[..n])?;
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    if fin {
        s.shutdown(Shutdown::Write)?;
    }
    Ok(hex(&hash.finalize()))
}

/// Reads `limit` bytes (None: until EOF); returns count and digest.
fn recv_hash(mut s: &TcpStream, limit: Option<u64>) -> std::io::Result<(u64, String)> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let want = limit.map_or(CHUNK, |l| (l - total).min(CHUNK as u64) as usize);
        if want == 0 {
            return Ok((total, hex(&hash.finalize())));
        }
        let n = s.read(&mut buf[..want])?;
        if n == 0 {
            if limit.is_some() {
                return Err(std::io::Error::new(ErrorKind::UnexpectedEof, format!("EOF after {total} bytes")));
            }
            return Ok((total, hex(&hash.finalize())));
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
}

/// Sends on a clone of `s` in a thread while `recv` runs here.
fn both_ways<R>(
    s: &TcpStream,
    bytes: u64,
    seed: u64,
    fin: bool,
    recv: impl FnOnce() -> std::io::Result<R>,
) -> std::io::Result<(String, R)> {
    let tx = s.try_clone()?;
    let sender = std::thread::spawn(move || send_pattern(&tx, bytes, seed, fin));
    let got = recv();
    let sent = sender.join().map_err(|_| std::io::Error::other("sender panicked"))?;
    Ok((sent?, got?))
}

fn transfer(s: TcpStream, conn: u32, args: &Args) -> std::io::Result<String> {
    let (bytes, sd) = (args.bytes, seed(args.server, conn));
    if let Some(idle) = args.keepalive {
        set_keepalive(s.as_raw_fd(), idle, 1, 5)?;
    }
    if args.idle > 0 {
        if args.server {
            // Blocks until the client's first byte: the connection is idle.
            s.peek(&mut [0u8; 1])?;
        } else {
            std::thread::sleep(Duration::from_secs(args.idle));
        }
    }
    let line = |sent: &str, got: u64, got_sha: &str| {
        format!("hxfer conn={conn} sent={bytes} sent_sha256={sent} recv={got} recv_sha256={got_sha}")
    };
    match args.mode {
        Mode::Both => {
            let (sent, (got, got_sha)) = both_ways(&s, bytes, sd, true, || recv_hash(&s, None))?;
            if args.echo && (got != bytes || got_sha != sent) {
                return Err(std::io::Error::other(format!(
                    "conn {conn}: echo differs: sent {bytes} bytes {sent}, got back {got} bytes {got_sha}"
                )));
            }
            Ok(line(&sent, got, &got_sha))
        }
        Mode::HalfClose(first_is_server) => {
            if first_is_server == args.server {
                let sent = send_pattern(&s, bytes, sd, true)?;
                let (got, got_sha) = recv_hash(&s, None)?;
                Ok(line(&sent, got, &got_sha))
            } else {
                let (got, got_sha) = recv_hash(&s, None)?;
                let sent = send_pattern(&s, bytes, sd, true)?;
                Ok(line(&sent, got, &got_sha))
            }
        }
        Mode::Rst(resetter_is_server) => {
            let (sent, (got, got_sha)) = both_ways(&s, bytes, sd, false, || recv_hash(&s, Some(bytes)))?;
            if resetter_is_server == args.server {
                let mut ack = [0u8; 1];
                (&s).read_exact(&mut ack)?;
                abort(s)?;
                Ok(format!("{} reset=sent", line(&sent, got, &got_sha)))
            } else {
                (&s).write_all(&[1])?;
                match (&s).read(&mut [0u8; 1]) {
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                        Ok(format!("{} reset=seen", line(&sent, got, &got_sha)))
                    }
                    Ok(0) => Err(std::io::Error::other(format!("conn {conn}: FIN where a RST was expected"))),
                    Ok(_) => Err(std::io::Error::other(format!("conn {conn}: data where a RST was expected"))),
                    Err(e) => Err(std::io::Error::new(e.kind(), format!("conn {conn}: {e} where a RST was expected"))),
                }
            }
        }
    }
}

fn run(args: Args) -> std::io::Result<()> {
    let args = std::sync::Arc::new(args);
    let mut streams = Vec::new();
    if args.server {
        let listener = TcpListener::bind(args.addr)?;
        let mut workers = Vec::new();
        for conn in 0..args.conns {
            let (s, _) = listener.accept()?;
            let a = args.clone();
            workers.push(std::thread::spawn(move || transfer(s, conn, &a)));
        }
        return report(workers);
    }
    // All connections open before any data moves: C connections at once.
    for _ in 0..args.conns {
        streams.push(connect_retry(args.addr, &no_setup)?);
    }
    let workers = streams
        .into_iter()
        .enumerate()
        .map(|(conn, s)| {
            let a = args.clone();
            std::thread::spawn(move || transfer(s, conn as u32, &a))
        })
        .collect();
    report(workers)
}

fn report(workers: Vec<std::thread::JoinHandle<std::io::Result<String>>>) -> std::io::Result<()> {
    let mut failed = None;
    for w in workers {
        match w.join().map_err(|_| std::io::Error::other("worker panicked"))? {
            Ok(line) => println!("{line}"),
            Err(e) => failed = Some(e),
        }
    }
    failed.map_or(Ok(()), Err)
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hxfer: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hxfer: {e}");
            ExitCode::FAILURE
        }
    }
}
