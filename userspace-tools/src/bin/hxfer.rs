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
//! `hxfer conn=I sent=N sent_sha256=H recv=M recv_sha256=H recv_check=V`
//!
//! A test compares one side's `sent_sha256` with the other side's
//! `recv_sha256`. `recv_check` says where a mismatch lies: the receiver
//! recognises which connection's stream it gets from its first bytes and
//! compares every byte with it (`ok seed=S`, `bad seed=S first_bad=OFFSET
//! bad_bytes=N`, `unknown`, `empty`). The exit status is non-zero on any
//! I/O error. The client
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
//! * `--idle-until FILE`: the same, until FILE exists instead of for a
//!   time (a test opens it once it has done what needs an idle connection).
//! * `--keepalive S`: SO_KEEPALIVE with TCP_KEEPIDLE S, TCP_KEEPINTVL 1,
//!   TCP_KEEPCNT 5 on every socket (with `--idle` > S, probes must be
//!   answered or the connection dies).
//! * `--oneway client|server`: only that side sends its N bytes (then its
//!   FIN); the other reads to EOF, then shuts down its write side having
//!   sent nothing (its line says `sent=0`).
//!
//! Options for the restore/NIC-event tests (per side; need not match):
//!
//! * `--log FILE`: append `hxfer-sock conn=I cookie=C local=L remote=R`
//!   once a connection is up (C: `SO_COOKIE`, decimal; L/R as
//!   `net.handoff.restore` takes them: `a.b.c.d:p`, `[v6]:p`), and
//!   `hxfer-event conn=I event=E` as it goes: `sent` (every byte written,
//!   before `--hold`), `received` (every expected byte read, before EOF),
//!   `fin` (write side shut down), `eof`; with `received`, the socket's
//!   `getsockopt(TCP_INFO)` as `hxfer-info conn=I rtt_us=R rttvar_us=V
//!   snd_cwnd=C snd_ssthresh=S total_retrans=T rto_us=O`; when a
//!   direction fails, `hxfer-error conn=I DIR error=ENAME at_ns=T` (DIR
//!   `send` or `receive`, T: CLOCK_REALTIME nanoseconds).
//! * `--pace-mbit R`: send at most R Mbit/s per connection.
//! * `--gate FILE`: read nothing until FILE exists (the peer's data backs
//!   up in this side's receive queue and the peer's send queue).
//! * `--hold FILE`: after the last byte, wait for FILE before the FIN.
//! * `--rcvbuf B` (client only): SO_RCVBUF before connect().
//! * `--read-size B`: read at most B bytes per `read` (default 64 KiB),
//!   as a program with a small buffer does (socat reads 8 KiB).
//! * `--info-when FILE` (with `--log`): once FILE exists, log every open
//!   connection's `hxfer-info` (an offloaded socket's `getsockopt(TCP_INFO)`
//!   asks the NIC). FILE must appear while the connections are open.
//! * `--rate-log FILE`: append `hxfer-rate conn=I end_ns=T bytes=B` for
//!   every `--rate-ms` (default 100) window of the receive side (T:
//!   CLOCK_REALTIME nanoseconds at the window's end; windows with no data
//!   are written with B=0).
//!
//! A connection that fails prints `hxfer conn=I error=ENAME` (errno name,
//! `EOTHER` for a tool-detected error such as a short stream) instead of
//! its digest line.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use userspace_tools::pattern::{Pattern, StreamCheck};
use userspace_tools::sock::{
    abort, arg, connect_retry, cookie, flag, hex, io_errno_name, no_setup, set_keepalive,
    setsockopt, wait_file,
};

const CHUNK: usize = 64 * 1024;

const USAGE: &str = "usage: hxfer server|client --addr A --port P --bytes N [--conns C]
       [--echo] [--half-close client|server] [--rst client|server]
       [--idle SECS | --idle-until FILE] [--keepalive SECS] [--oneway client|server]
       [--log FILE] [--pace-mbit R] [--gate FILE] [--hold FILE]
       [--rcvbuf BYTES] [--read-size BYTES] [--rate-log FILE [--rate-ms MS]]
       [--info-when FILE]
  SHA-256-verified transfer of N bytes each way per connection; see the
  source header (userspace-tools/src/bin/hxfer.rs) for the options.";

/// How long a connection stays idle before data moves.
enum Idle {
    No,
    Secs(u64),
    UntilFile(PathBuf),
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Both directions at once, each ending with a FIN.
    Both,
    /// The side (true: server) that sends and shuts down first.
    HalfClose(bool),
    /// The side (true: server) that aborts.
    Rst(bool),
    /// The only side (true: server) that sends.
    OneWay(bool),
}

struct Args {
    server: bool,
    addr: SocketAddr,
    bytes: u64,
    conns: u32,
    echo: bool,
    mode: Mode,
    idle: Idle,
    keepalive: Option<i32>,
    log: Option<Mutex<File>>,
    pace_mbit: Option<f64>,
    gate: Option<PathBuf>,
    hold: Option<PathBuf>,
    rcvbuf: Option<i32>,
    read_size: usize,
    rate_log: Option<Mutex<File>>,
    rate_ms: u64,
    info_when: Option<PathBuf>,
}

fn append(path: &str) -> Result<Mutex<File>, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Mutex::new)
        .map_err(|e| format!("{path}: {e}"))
}

impl Args {
    /// One line to `--log` (one write(2), O_APPEND: lines never mix).
    fn log(&self, line: String) {
        if let Some(f) = &self.log {
            let _ = f.lock().unwrap().write_all(format!("{line}\n").as_bytes());
        }
    }
    fn event(&self, conn: u32, event: &str) {
        self.log(format!("hxfer-event conn={conn} event={event}"));
    }
    /// `hxfer-error`: one direction of a connection failed, and when. The
    /// connection's result names only the first error; a reset shows on
    /// the reader as ECONNRESET and on the writer after it as EPIPE, so
    /// both are logged.
    fn failure(&self, conn: u32, direction: &str, e: &std::io::Error) {
        self.log(format!(
            "hxfer-error conn={conn} {direction} error={} at_ns={}",
            io_errno_name(e),
            now_ns()
        ));
    }
    /// `hxfer-info`: the socket's TCP_INFO once every expected byte is in.
    fn info(&self, conn: u32, fd: std::os::fd::RawFd) {
        if self.log.is_none() {
            return;
        }
        if let Ok(i) = userspace_tools::sock::tcp_info(fd) {
            self.log(format!(
                "hxfer-info conn={conn} rtt_us={} rttvar_us={} snd_cwnd={} snd_ssthresh={} total_retrans={} rto_us={}",
                i.tcpi_rtt, i.tcpi_rttvar, i.tcpi_snd_cwnd, i.tcpi_snd_ssthresh, i.tcpi_total_retrans, i.tcpi_rto
            ));
        }
    }
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
    let ip: IpAddr = get("--addr")
        .ok_or("--addr missing")?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let port: u16 = get("--port")
        .ok_or("--port missing")?
        .parse()
        .map_err(|e| format!("--port: {e}"))?;
    let bytes = get("--bytes")
        .ok_or("--bytes missing")?
        .parse()
        .map_err(|e| format!("--bytes: {e}"))?;
    let conns = get("--conns")
        .map(|c| c.parse())
        .transpose()
        .map_err(|e| format!("--conns: {e}"))?
        .unwrap_or(1);
    let mode = match (get("--half-close"), get("--rst"), get("--oneway")) {
        (Some(s), None, None) => Mode::HalfClose(side(&s, "--half-close")?),
        (None, Some(s), None) => Mode::Rst(side(&s, "--rst")?),
        (None, None, Some(s)) => Mode::OneWay(side(&s, "--oneway")?),
        (None, None, None) => Mode::Both,
        _ => return Err("--half-close, --rst and --oneway exclude each other".into()),
    };
    let echo = flag(&v, "--echo");
    if echo && (server || mode != Mode::Both) {
        return Err("--echo is for a client in the default mode".into());
    }
    let idle = match (get("--idle"), get("--idle-until")) {
        (Some(_), Some(_)) => return Err("--idle and --idle-until exclude each other".into()),
        (Some(secs), None) => match secs.parse().map_err(|e| format!("--idle: {e}"))? {
            0 => Idle::No,
            secs => Idle::Secs(secs),
        },
        (None, Some(file)) => Idle::UntilFile(PathBuf::from(file)),
        (None, None) => Idle::No,
    };
    let keepalive = get("--keepalive")
        .map(|c| c.parse())
        .transpose()
        .map_err(|e| format!("--keepalive: {e}"))?;
    let log = get("--log").map(|p| append(&p)).transpose()?;
    let rate_log = get("--rate-log").map(|p| append(&p)).transpose()?;
    let pace_mbit = get("--pace-mbit")
        .map(|c| c.parse())
        .transpose()
        .map_err(|e| format!("--pace-mbit: {e}"))?;
    if pace_mbit.is_some_and(|r: f64| r <= 0.0) {
        return Err("--pace-mbit: must be > 0".into());
    }
    let rcvbuf = get("--rcvbuf")
        .map(|c| c.parse())
        .transpose()
        .map_err(|e| format!("--rcvbuf: {e}"))?;
    if rcvbuf.is_some() && server {
        return Err("--rcvbuf is for the client (it must precede the handshake)".into());
    }
    let read_size = get("--read-size")
        .map(|c| c.parse())
        .transpose()
        .map_err(|e| format!("--read-size: {e}"))?
        .unwrap_or(CHUNK);
    if read_size == 0 {
        return Err("--read-size: must be > 0".into());
    }
    let rate_ms = get("--rate-ms")
        .map(|c| c.parse())
        .transpose()
        .map_err(|e| format!("--rate-ms: {e}"))?
        .unwrap_or(100);
    if rate_ms == 0 {
        return Err("--rate-ms: must be > 0".into());
    }
    Ok(Args {
        server,
        addr: SocketAddr::new(ip, port),
        bytes,
        conns,
        echo,
        mode,
        idle,
        keepalive,
        log,
        pace_mbit,
        gate: get("--gate").map(PathBuf::from),
        hold: get("--hold").map(PathBuf::from),
        rcvbuf,
        read_size,
        rate_log,
        rate_ms,
        info_when: get("--info-when").map(PathBuf::from),
    })
}

/// Seeds differ per direction so that an echo would not pass as a transfer.
fn seed(server_sends: bool, conn: u32) -> u64 {
    (u64::from(conn) << 1) | u64::from(server_sends)
}

/// Sends `bytes` of the pattern for `seed` (paced, `--pace-mbit`); with
/// `fin`, waits for `--hold` then shuts down the write side. Returns the
/// digest.
fn send_pattern(
    mut s: &TcpStream,
    bytes: u64,
    seed: u64,
    fin: bool,
    conn: u32,
    a: &Args,
) -> std::io::Result<String> {
    let mut pattern = Pattern::new(seed);
    let mut hash = Sha256::new();
    // Paced: chunks of at most 10 ms worth, so the rate is smooth.
    let chunk = a.pace_mbit.map_or(CHUNK, |r| {
        ((r * 1e6 / 8.0 / 100.0) as usize).clamp(1024, CHUNK)
    });
    let mut buf = vec![0u8; chunk];
    let mut left = bytes;
    let start = Instant::now();
    while left > 0 {
        let n = left.min(chunk as u64) as usize;
        pattern.fill(&mut buf[..n]);
        s.write_all(&buf[..n])?;
        hash.update(&buf[..n]);
        left -= n as u64;
        if let Some(r) = a.pace_mbit {
            let due = Duration::from_secs_f64((bytes - left) as f64 * 8.0 / (r * 1e6));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    a.event(conn, "sent");
    if fin {
        if let Some(h) = &a.hold {
            wait_file(h);
        }
        s.shutdown(Shutdown::Write)?;
        a.event(conn, "fin");
    }
    Ok(hex(&hash.finalize()))
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `--rate-log`: bytes received per window, windows aligned on the first
/// read call.
struct RateLog<'a> {
    out: &'a Mutex<File>,
    conn: u32,
    step: u128,
    end: u128,
    bytes: u64,
}

impl RateLog<'_> {
    fn add(&mut self, n: usize) {
        let now = now_ns();
        self.flush_until(now);
        self.bytes += n as u64;
    }
    fn flush_until(&mut self, now: u128) {
        let mut lines = String::new();
        while now >= self.end {
            lines += &format!(
                "hxfer-rate conn={} end_ns={} bytes={}\n",
                self.conn, self.end, self.bytes
            );
            self.bytes = 0;
            self.end += self.step;
        }
        if !lines.is_empty() {
            let _ = self.out.lock().unwrap().write_all(lines.as_bytes());
        }
    }
}

/// What one side received: byte count, SHA-256, and the [`StreamCheck`]
/// verdict (which stream it was and where it first differs).
struct Received {
    bytes: u64,
    sha: String,
    check: String,
}

fn done(bytes: u64, hash: Sha256, check: &StreamCheck) -> Received {
    Received {
        bytes,
        sha: hex(&hash.finalize()),
        check: check.verdict(),
    }
}

/// Reads `limit` bytes (None: until EOF). Waits for `--gate` first; logs
/// `received` once `expect` bytes are in.
fn recv_hash(
    mut s: &TcpStream,
    limit: Option<u64>,
    expect: u64,
    conn: u32,
    a: &Args,
) -> std::io::Result<Received> {
    if let Some(g) = &a.gate {
        wait_file(g);
    }
    let mut hash = Sha256::new();
    // Any connection's stream, either direction (echo sends ours back).
    let mut check = StreamCheck::new(
        (0..a.conns)
            .flat_map(|j| [seed(false, j), seed(true, j)])
            .collect(),
    );
    let mut buf = vec![0u8; a.read_size];
    let mut total = 0u64;
    let step = u128::from(a.rate_ms) * 1_000_000;
    let mut rate = a.rate_log.as_ref().map(|out| RateLog {
        out,
        conn,
        step,
        end: now_ns() + step,
        bytes: 0,
    });
    if expect == 0 {
        a.event(conn, "received");
    }
    loop {
        let want = limit.map_or(a.read_size, |l| {
            (l - total).min(a.read_size as u64) as usize
        });
        if want == 0 {
            return Ok(done(total, hash, &check));
        }
        let n = s.read(&mut buf[..want])?;
        if let Some(r) = rate.as_mut() {
            r.add(n);
        }
        if n == 0 {
            if let Some(r) = rate.as_mut() {
                let end = r.end;
                r.flush_until(end);
            }
            if limit.is_some() {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("EOF after {total} bytes"),
                ));
            }
            a.event(conn, "eof");
            return Ok(done(total, hash, &check));
        }
        hash.update(&buf[..n]);
        check.update(&buf[..n]);
        let before = total;
        total += n as u64;
        if before < expect && total >= expect {
            a.event(conn, "received");
            a.info(conn, s.as_raw_fd());
        }
    }
}

/// Sends on a clone of `s` in a thread while `recv` runs here.
fn both_ways<R>(
    s: &TcpStream,
    (bytes, seed, fin, conn): (u64, u64, bool, u32),
    a: &std::sync::Arc<Args>,
    recv: impl FnOnce() -> std::io::Result<R>,
) -> std::io::Result<(String, R)> {
    let tx = s.try_clone()?;
    let a2 = a.clone();
    let sender = std::thread::spawn(move || send_pattern(&tx, bytes, seed, fin, conn, &a2));
    let got = recv();
    if let Err(e) = &got {
        a.failure(conn, "receive", e);
    }
    let sent = sender
        .join()
        .map_err(|_| std::io::Error::other("sender panicked"))?;
    if let Err(e) = &sent {
        a.failure(conn, "send", e);
    }
    Ok((sent?, got?))
}

fn transfer(s: TcpStream, conn: u32, args: &std::sync::Arc<Args>) -> std::io::Result<String> {
    let (bytes, sd) = (args.bytes, seed(args.server, conn));
    if args.log.is_some() {
        let (l, r) = (s.local_addr()?, s.peer_addr()?);
        args.log(format!(
            "hxfer-sock conn={conn} cookie={} local={l} remote={r}",
            cookie(s.as_raw_fd())?
        ));
    }
    if let (Some(f), Some(_)) = (&args.info_when, &args.log) {
        let (f, a, fd) = (f.clone(), args.clone(), s.as_raw_fd());
        // The descriptor is this connection's while the test that creates
        // the file keeps the connection open (documented in the usage).
        std::thread::spawn(move || {
            wait_file(&f);
            a.info(conn, fd);
        });
    }
    if let Some(idle) = args.keepalive {
        set_keepalive(s.as_raw_fd(), idle, 1, 5)?;
    }
    match (&args.idle, args.server) {
        (Idle::No, _) => {}
        // Blocks until the client's first byte: the connection is idle.
        (_, true) => {
            s.peek(&mut [0u8; 1])?;
        }
        (Idle::Secs(secs), false) => std::thread::sleep(Duration::from_secs(*secs)),
        (Idle::UntilFile(f), false) => wait_file(f),
    }
    let line = |sent_bytes: u64, sent: &str, got: &Received| {
        format!(
            "hxfer conn={conn} sent={sent_bytes} sent_sha256={sent} recv={} recv_sha256={} recv_check={}",
            got.bytes, got.sha, got.check
        )
    };
    match args.mode {
        Mode::Both => {
            let (sent, got) = both_ways(&s, (bytes, sd, true, conn), args, || {
                recv_hash(&s, None, bytes, conn, args)
            })?;
            if args.echo && (got.bytes != bytes || got.sha != sent) {
                return Err(std::io::Error::other(format!(
                    "conn {conn}: echo differs: sent {bytes} bytes {sent}, got back {} bytes {} ({})",
                    got.bytes, got.sha, got.check
                )));
            }
            Ok(line(bytes, &sent, &got))
        }
        Mode::HalfClose(first_is_server) => {
            if first_is_server == args.server {
                let sent = send_pattern(&s, bytes, sd, true, conn, args)?;
                let got = recv_hash(&s, None, bytes, conn, args)?;
                Ok(line(bytes, &sent, &got))
            } else {
                let got = recv_hash(&s, None, bytes, conn, args)?;
                let sent = send_pattern(&s, bytes, sd, true, conn, args)?;
                Ok(line(bytes, &sent, &got))
            }
        }
        Mode::OneWay(sender_is_server) => {
            if sender_is_server == args.server {
                let sent = send_pattern(&s, bytes, sd, true, conn, args)?;
                let got = recv_hash(&s, None, 0, conn, args)?;
                Ok(line(bytes, &sent, &got))
            } else {
                let got = recv_hash(&s, None, bytes, conn, args)?;
                let sent = send_pattern(&s, 0, sd, true, conn, args)?;
                Ok(line(0, &sent, &got))
            }
        }
        Mode::Rst(resetter_is_server) => {
            let (sent, got) = both_ways(&s, (bytes, sd, false, conn), args, || {
                recv_hash(&s, Some(bytes), bytes, conn, args)
            })?;
            if resetter_is_server == args.server {
                let mut ack = [0u8; 1];
                (&s).read_exact(&mut ack)?;
                abort(s)?;
                Ok(format!("{} reset=sent", line(bytes, &sent, &got)))
            } else {
                (&s).write_all(&[1])?;
                match (&s).read(&mut [0u8; 1]) {
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                        Ok(format!("{} reset=seen", line(bytes, &sent, &got)))
                    }
                    Ok(0) => Err(std::io::Error::other(format!(
                        "conn {conn}: FIN where a RST was expected"
                    ))),
                    Ok(_) => Err(std::io::Error::other(format!(
                        "conn {conn}: data where a RST was expected"
                    ))),
                    Err(e) => Err(std::io::Error::new(
                        e.kind(),
                        format!("conn {conn}: {e} where a RST was expected"),
                    )),
                }
            }
        }
    }
}

type Worker = std::thread::JoinHandle<(u32, std::io::Result<String>)>;

fn spawn(s: TcpStream, conn: u32, args: &std::sync::Arc<Args>) -> Worker {
    let a = args.clone();
    std::thread::spawn(move || (conn, transfer(s, conn, &a)))
}

fn run(args: Args) -> std::io::Result<()> {
    let args = std::sync::Arc::new(args);
    let mut streams = Vec::new();
    if args.server {
        let listener = TcpListener::bind(args.addr)?;
        let mut workers = Vec::new();
        for conn in 0..args.conns {
            let (s, _) = listener.accept()?;
            workers.push(spawn(s, conn, &args));
        }
        return report(workers);
    }
    let rcvbuf = args.rcvbuf;
    let setup = move |fd| match rcvbuf {
        Some(b) => setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &b),
        None => no_setup(fd),
    };
    // All connections open before any data moves: C connections at once.
    for _ in 0..args.conns {
        streams.push(connect_retry(args.addr, &setup)?);
    }
    let workers = streams
        .into_iter()
        .enumerate()
        .map(|(conn, s)| spawn(s, conn as u32, &args))
        .collect();
    report(workers)
}

/// Prints every connection's line (or its error line); fails if any failed.
fn report(workers: Vec<Worker>) -> std::io::Result<()> {
    let mut failed = None;
    for w in workers {
        let (conn, res) = w
            .join()
            .map_err(|_| std::io::Error::other("worker panicked"))?;
        match res {
            Ok(line) => println!("{line}"),
            Err(e) => {
                println!("hxfer conn={conn} error={}", io_errno_name(&e));
                eprintln!("hxfer: conn {conn}: {e}");
                failed = Some(e);
            }
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
