//! hxfer: bidirectional TCP transfer with SHA-256 digests on both ends.
//!
//! ```text
//! hxfer server --addr 198.18.0.1 --port 5001 --bytes N [--conns C]
//! hxfer client --addr 198.18.0.1 --port 5001 --bytes N [--conns C]
//! ```
//!
//! Each side sends N pseudo-random bytes (seeded by direction and connection
//! index), shuts down its write side, and reads until EOF. For every
//! connection it prints one line:
//!
//! `hxfer conn=I sent=N sent_sha256=H recv=M recv_sha256=H`
//!
//! A test compares one side's `sent_sha256` with the other side's
//! `recv_sha256`. The exit status is non-zero on any I/O error.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use userspace_tools::pattern::Pattern;

const CHUNK: usize = 64 * 1024;

struct Args {
    server: bool,
    addr: SocketAddr,
    bytes: u64,
    conns: u32,
}

fn parse() -> Result<Args, String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| v.iter().position(|a| a == name).and_then(|i| v.get(i + 1));
    let server = match v.first().map(String::as_str) {
        Some("server") => true,
        Some("client") => false,
        _ => return Err("first argument must be 'server' or 'client'".into()),
    };
    let ip: IpAddr = get("--addr").ok_or("--addr missing")?.parse().map_err(|e| format!("--addr: {e}"))?;
    let port: u16 = get("--port").ok_or("--port missing")?.parse().map_err(|e| format!("--port: {e}"))?;
    let bytes = get("--bytes").ok_or("--bytes missing")?.parse().map_err(|e| format!("--bytes: {e}"))?;
    let conns = get("--conns").map(|c| c.parse()).transpose().map_err(|e| format!("--conns: {e}"))?.unwrap_or(1);
    Ok(Args { server, addr: SocketAddr::new(ip, port), bytes, conns })
}

/// Seeds differ per direction so that an echo would not pass as a transfer.
fn seed(server_sends: bool, conn: u32) -> u64 {
    (u64::from(conn) << 1) | u64::from(server_sends)
}

fn send_all(mut s: TcpStream, bytes: u64, seed: u64) -> std::io::Result<String> {
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
    s.shutdown(Shutdown::Write)?;
    Ok(hex(&hash.finalize()))
}

fn recv_all(s: &mut TcpStream) -> std::io::Result<(u64, String)> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok((total, hex(&hash.finalize())));
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn transfer(mut s: TcpStream, conn: u32, args: &Args) -> std::io::Result<String> {
    let tx = s.try_clone()?;
    let (bytes, sd) = (args.bytes, seed(args.server, conn));
    let sender = std::thread::spawn(move || send_all(tx, bytes, sd));
    let (got, got_sha) = recv_all(&mut s)?;
    let sent_sha = sender.join().map_err(|_| std::io::Error::other("sender panicked"))??;
    Ok(format!("hxfer conn={conn} sent={bytes} sent_sha256={sent_sha} recv={got} recv_sha256={got_sha}"))
}

/// Connects, retrying while the server is not listening yet.
fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn run(args: Args) -> std::io::Result<()> {
    let args = std::sync::Arc::new(args);
    let mut workers = Vec::new();
    if args.server {
        let listener = TcpListener::bind(args.addr)?;
        for conn in 0..args.conns {
            let (s, _) = listener.accept()?;
            let a = args.clone();
            workers.push(std::thread::spawn(move || transfer(s, conn, &a)));
        }
    } else {
        for conn in 0..args.conns {
            let s = connect(args.addr)?;
            let a = args.clone();
            workers.push(std::thread::spawn(move || transfer(s, conn, &a)));
        }
    }
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
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hxfer: {e}");
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
