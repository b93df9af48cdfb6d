//! hrr: TCP request/response ping-pong, for latency-bound benchmarks.
//!
//! ```text
//! hrr server --addr 198.18.0.1 --port 5201 [--size 64]
//! hrr client --addr 198.18.0.1 --port 5201 --count N [--size 64]
//! hrr client --addr 198.18.0.1 --port 5201 --short --seconds T [--size 64]
//! hrr client --addr 198.18.0.1 --port 5201 --short --count N [--size 64]
//! ```
//!
//! The client sends `size`-byte requests and waits for each `size`-byte
//! response (with TCP_NODELAY on both ends), N times over one connection,
//! then prints `hrr transactions=N seconds=S rate=R`; it verifies each
//! response echoes its request. The server answers one connection and exits.
//!
//! `--short`: one connection per transaction (connect, request, response,
//! close), repeated for T seconds (or N connections) against an echo server
//! that serves many connections (hecho); prints `hrr connections=N
//! seconds=S rate=R`.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use userspace_tools::sock::{arg, flag};

const USAGE: &str = "usage: hrr server --addr A --port P [--size 64]
       hrr client --addr A --port P --count N [--size 64]
       hrr client --addr A --port P --short --seconds T|--count N [--size 64]
  request/response over one connection (rate in transactions/s), or with
  --short one connection per transaction against hecho (connections/s)";

/// Connects, retrying while the server is not listening yet.
fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(addr) {
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => return other.map_err(|e| format!("connect: {e}")),
        }
    }
}

/// When the connection-per-transaction loop stops.
enum Until {
    Seconds(f64),
    Connections(u64),
}

/// Connection-per-transaction loop, until `until`.
fn short_conns(addr: SocketAddr, size: usize, until: Until) -> Result<(), String> {
    let mut buf = vec![0u8; size];
    let mut back = vec![0u8; size];
    let start = Instant::now();
    let mut n = 0u64;
    // The first connect may find the server not yet listening.
    let mut s = connect(addr)?;
    loop {
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        buf[..8.min(size)].copy_from_slice(&n.to_le_bytes()[..8.min(size)]);
        s.write_all(&buf)
            .map_err(|e| format!("connection {n}: {e}"))?;
        s.read_exact(&mut back)
            .map_err(|e| format!("connection {n}: {e}"))?;
        if back != buf {
            return Err(format!(
                "connection {n}: response does not echo its request"
            ));
        }
        drop(s);
        n += 1;
        let done = match until {
            Until::Seconds(secs) => start.elapsed().as_secs_f64() >= secs,
            Until::Connections(count) => n >= count,
        };
        if done {
            break;
        }
        s = TcpStream::connect(addr).map_err(|e| format!("connection {n}: connect: {e}"))?;
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "hrr connections={n} seconds={el:.3} rate={:.1}",
        n as f64 / el
    );
    Ok(())
}

fn run() -> Result<(), String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    if flag(&v, "--help") || flag(&v, "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let ip: IpAddr = arg(&v, "--addr")
        .ok_or("--addr missing")?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let port: u16 = arg(&v, "--port")
        .ok_or("--port missing")?
        .parse()
        .map_err(|e| format!("--port: {e}"))?;
    let size: usize = arg(&v, "--size")
        .map_or(Ok(64), |s| s.parse())
        .map_err(|e| format!("--size: {e}"))?;
    let addr = SocketAddr::new(ip, port);
    let mut buf = vec![0u8; size];
    match v.first().map(String::as_str) {
        Some("server") => {
            let (mut s, _) = TcpListener::bind(addr)
                .map_err(|e| e.to_string())?
                .accept()
                .map_err(|e| e.to_string())?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            loop {
                match s.read_exact(&mut buf) {
                    Ok(()) => s.write_all(&buf).map_err(|e| e.to_string())?,
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Some("client") if flag(&v, "--short") => {
            let until = match (arg(&v, "--seconds"), arg(&v, "--count")) {
                (Some(s), None) => {
                    Until::Seconds(s.parse().map_err(|e| format!("--seconds: {e}"))?)
                }
                (None, Some(c)) => match c.parse().map_err(|e| format!("--count: {e}"))? {
                    0 => return Err("--count: must be > 0".into()),
                    c => Until::Connections(c),
                },
                _ => return Err("--short takes one of --seconds and --count".into()),
            };
            short_conns(addr, size, until)
        }
        Some("client") => {
            let count: u64 = arg(&v, "--count")
                .ok_or("--count missing")?
                .parse()
                .map_err(|e| format!("--count: {e}"))?;
            let mut s = connect(addr)?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            let mut back = vec![0u8; size];
            let start = Instant::now();
            for i in 0..count {
                buf[..8.min(size)].copy_from_slice(&i.to_le_bytes()[..8.min(size)]);
                s.write_all(&buf).map_err(|e| e.to_string())?;
                s.read_exact(&mut back).map_err(|e| e.to_string())?;
                if back != buf {
                    return Err(format!("response {i} does not echo its request"));
                }
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "hrr transactions={count} seconds={secs:.3} rate={:.1}",
                count as f64 / secs
            );
            Ok(())
        }
        _ => Err("first argument must be 'server' or 'client'".into()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hrr: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
