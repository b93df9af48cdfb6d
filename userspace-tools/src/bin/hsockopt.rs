//! hsockopt: the `setsockopt(TCP_ULP, "handoff")` opt-in, probed.
//!
//! ```text
//! hsockopt listen      --addr A [--port P]   a listening socket
//! hsockopt unconnected --addr A              a TCP socket never connected
//! hsockopt closed      --addr A [--port P]   a TCP socket whose connect was refused
//! hsockopt udp         --addr A              a UDP socket
//! hsockopt server --addr A --port P --bytes N [--pre-recv K] [--pre-send K] [--sync FILE] [--twice]
//! hsockopt client --addr A --port P --bytes N [--pre-send K] [--rcvbuf B] [--sync FILE]
//! ```
//!
//! The first four modes opt the socket in (`--ulp NAME`, default
//! "handoff"), print `hsockopt mode=M ulp=OK|<errno name> works=yes|no`,
//! then prove the socket still works: the listener accepts a connection
//! from this process and carries a byte, the unconnected socket listens and
//! does the same, the closed socket connects to a listener of this process,
//! the UDP socket receives a datagram it sends itself. Local connections
//! use a loopback-free route only if A is local, so A should be an address
//! of the namespace. Exit status 0 when the socket works, 1 otherwise.
//!
//! `server`/`client` opt an ESTABLISHED connection in with data queued in
//! both directions. The client connects (with a small `--rcvbuf` so the
//! server's data backs up), sends its first `--pre-send` bytes, then stops
//! reading and writing until FILE exists. The server accepts, waits until
//! `--pre-recv` bytes sit unread in its receive queue, writes up to its
//! own `--pre-send` bytes without blocking (until the send buffer is full),
//! then calls setsockopt(TCP_ULP) and prints
//! `hsockopt mode=server ulp=R inq=I outq=O queued=Q [ulp2=R2]`
//! (I/O: receive/send queue bytes at the opt-in, Q: bytes written before
//! it; `--twice`: a second opt-in, result R2), creates FILE, and both sides
//! finish a SHA-256-verified exchange of N bytes each way (the pre-sent
//! bytes included), printing hxfer's line
//! `hxfer conn=0 sent=N sent_sha256=H recv=M recv_sha256=H`.
//! The server exits 0 when the exchange completed, whatever the opt-in's
//! result (a refused opt-in must leave a working socket).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use userspace_tools::pattern::Pattern;
use userspace_tools::sock::{
    arg, arg_or, connect_retry, flag, hex, inq, outq, result_name, set_ulp, setsockopt, socket,
};

const USAGE: &str = "usage: hsockopt listen|unconnected|closed|udp --addr A [--port P] [--ulp NAME]
       hsockopt server --addr A --port P --bytes N [--pre-recv K] [--pre-send K] [--sync FILE] [--twice]
       hsockopt client --addr A --port P --bytes N [--pre-send K] [--rcvbuf B] [--sync FILE]
  probes setsockopt(IPPROTO_TCP, TCP_ULP, \"handoff\"): prints the errno name and
  whether the socket still works; server/client opt in an established
  connection with data queued both ways and verify a SHA-256 exchange";

const CHUNK: usize = 64 * 1024;

/// A byte through `a` to `b` and back: both ends of a connection work.
fn ping_pong(mut a: &TcpStream, mut b: &TcpStream) -> std::io::Result<()> {
    a.write_all(b"p")?;
    let mut c = [0u8; 1];
    b.read_exact(&mut c)?;
    b.write_all(b"q")?;
    a.read_exact(&mut c)?;
    if c != *b"q" {
        return Err(std::io::Error::other("wrong byte"));
    }
    Ok(())
}

fn accept_timeout(l: &TcpListener) -> std::io::Result<TcpStream> {
    l.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e),
        }
    }
}

fn probe(mode: &str, v: &[String]) -> Result<bool, String> {
    let ip: IpAddr = arg(v, "--addr")
        .ok_or("--addr missing")?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let port: u16 = arg_or(v, "--port", 0)?;
    let ulp = arg_or(v, "--ulp", "handoff".to_string())?;
    let addr = SocketAddr::new(ip, port);
    let (res, works) = match mode {
        "listen" => {
            let l = TcpListener::bind(addr).map_err(|e| format!("bind: {e}"))?;
            let r = set_ulp(l.as_raw_fd(), &ulp);
            let works = (|| {
                let c = TcpStream::connect(l.local_addr()?)?;
                let s = accept_timeout(&l)?;
                ping_pong(&c, &s)
            })();
            (r, works)
        }
        "unconnected" => {
            let fd = socket(&addr, libc::SOCK_STREAM).map_err(|e| format!("socket: {e}"))?;
            let r = set_ulp(fd, &ulp);
            // Still an ordinary socket: it can become a listener.
            let works = (|| {
                let (ss, len) = userspace_tools::sock::sockaddr(&SocketAddr::new(ip, 0));
                // SAFETY: `fd` is our socket, `ss` a valid address.
                if unsafe { libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) } < 0
                    // SAFETY: as above.
                    || unsafe { libc::listen(fd, 8) } < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                // SAFETY: `fd` is a listening socket we own.
                let l = unsafe { TcpListener::from_raw_fd(fd) };
                let c = TcpStream::connect(l.local_addr()?)?;
                let s = accept_timeout(&l)?;
                ping_pong(&c, &s)
            })();
            (r, works)
        }
        "closed" => {
            // A port nobody listens on (bound, then released): connect is refused.
            let free = TcpListener::bind(SocketAddr::new(ip, port))
                .map_err(|e| format!("bind: {e}"))?
                .local_addr()
                .unwrap();
            let fd = socket(&addr, libc::SOCK_STREAM).map_err(|e| format!("socket: {e}"))?;
            // SAFETY: `fd` is a fresh socket we own.
            let s = unsafe { TcpStream::from_raw_fd(fd) };
            let (ss, len) = userspace_tools::sock::sockaddr(&free);
            // SAFETY: valid address.
            let rc =
                unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) };
            if rc == 0 {
                return Err("connect to a closed port succeeded".into());
            }
            let r = set_ulp(fd, &ulp);
            // A refused socket may connect again (AF_UNSPEC reset not needed on Linux).
            let works = (|| {
                let l = TcpListener::bind(SocketAddr::new(ip, 0))?;
                let (ss, len) = userspace_tools::sock::sockaddr(&l.local_addr()?);
                // SAFETY: valid address.
                if unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) }
                    < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                let peer = accept_timeout(&l)?;
                ping_pong(&s, &peer)
            })();
            (r, works)
        }
        "udp" => {
            let u = UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind: {e}"))?;
            let r = set_ulp(u.as_raw_fd(), &ulp);
            let works = (|| {
                u.set_read_timeout(Some(Duration::from_secs(5)))?;
                u.send_to(b"udp", u.local_addr()?)?;
                let mut b = [0u8; 8];
                let n = u.recv(&mut b)?;
                if &b[..n] != b"udp" {
                    return Err(std::io::Error::other("wrong datagram"));
                }
                Ok(())
            })();
            (r, works)
        }
        _ => return Err(format!("unknown mode '{mode}'")),
    };
    let w = match &works {
        Ok(()) => "yes".to_string(),
        Err(e) => format!("no({e})"),
    };
    println!("hsockopt mode={mode} ulp={} works={w}", result_name(&res));
    Ok(works.is_ok())
}

/// Sends bytes `from..bytes` of the pattern stream `seed` after `already`
/// was sent; `hash` has the digest of the first `from` bytes.
fn send_rest(
    mut s: &TcpStream,
    mut p: Pattern,
    mut hash: Sha256,
    from: u64,
    bytes: u64,
) -> std::io::Result<String> {
    let mut buf = vec![0u8; CHUNK];
    let mut left = bytes - from;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        p.fill(&mut buf[..n]);
        s.write_all(&buf[..n])?;
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    s.shutdown(Shutdown::Write)?;
    Ok(hex(&hash.finalize()))
}

fn recv_all(mut s: &TcpStream) -> std::io::Result<(u64, String)> {
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

/// The rest of the exchange after the opt-in, both directions at once.
fn finish(
    s: TcpStream,
    p: Pattern,
    hash: Sha256,
    from: u64,
    bytes: u64,
) -> std::io::Result<String> {
    let tx = s.try_clone()?;
    let sender = std::thread::spawn(move || send_rest(&tx, p, hash, from, bytes));
    let (got, got_sha) = recv_all(&s)?;
    let sent = sender
        .join()
        .map_err(|_| std::io::Error::other("sender panicked"))??;
    Ok(format!(
        "hxfer conn=0 sent={bytes} sent_sha256={sent} recv={got} recv_sha256={got_sha}"
    ))
}

fn wait_file(path: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Path::new(path).exists() {
        if Instant::now() > deadline {
            return Err(format!("{path} did not appear within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn established(server: bool, v: &[String]) -> Result<bool, String> {
    let ip: IpAddr = arg(v, "--addr")
        .ok_or("--addr missing")?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let port: u16 = arg(v, "--port")
        .ok_or("--port missing")?
        .parse()
        .map_err(|e| format!("--port: {e}"))?;
    let bytes: u64 = arg(v, "--bytes")
        .ok_or("--bytes missing")?
        .parse()
        .map_err(|e| format!("--bytes: {e}"))?;
    let pre_send: u64 = arg_or(v, "--pre-send", 0u64)?.min(bytes);
    let sync = arg(v, "--sync");
    let addr = SocketAddr::new(ip, port);
    fn io(what: &'static str) -> impl Fn(std::io::Error) -> String {
        move |e| format!("{what}: {e}")
    }
    // Same seeds as hxfer connection 0, per direction.
    let mut p = Pattern::new(u64::from(server));
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];

    if !server {
        let rcvbuf: i32 = arg_or(v, "--rcvbuf", 0)?;
        let setup = move |fd: i32| {
            if rcvbuf > 0 {
                setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf)
            } else {
                Ok(())
            }
        };
        let s = connect_retry(addr, &setup).map_err(io("connect"))?;
        let mut left = pre_send;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            p.fill(&mut buf[..n]);
            (&s).write_all(&buf[..n]).map_err(io("pre-send"))?;
            hash.update(&buf[..n]);
            left -= n as u64;
        }
        if let Some(f) = &sync {
            wait_file(f)?;
        }
        let line = finish(s, p, hash, pre_send, bytes).map_err(io("exchange"))?;
        println!("{line}");
        return Ok(true);
    }

    let pre_recv: i32 = arg_or(v, "--pre-recv", 0)?;
    let l = TcpListener::bind(addr).map_err(io("bind"))?;
    let (s, _) = l.accept().map_err(io("accept"))?;
    let fd = s.as_raw_fd();
    let deadline = Instant::now() + Duration::from_secs(30);
    while inq(fd).map_err(io("SIOCINQ"))? < pre_recv {
        if Instant::now() > deadline {
            return Err(format!("{pre_recv} bytes never arrived"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Fill the send queue without blocking: the client is not reading.
    s.set_nonblocking(true).map_err(io("nonblocking"))?;
    let mut queued = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut stalls = 0;
    while queued < pre_send && stalls < 10 {
        if pending.is_empty() {
            let n = (pre_send - queued).min(CHUNK as u64) as usize;
            pending.resize(n, 0);
            p.fill(&mut pending);
            hash.update(&pending);
        }
        match (&s).write(&pending) {
            Ok(n) => {
                queued += n as u64;
                pending.drain(..n);
                stalls = 0;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                stalls += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("pre-send: {e}")),
        }
    }
    s.set_nonblocking(false).map_err(io("blocking"))?;
    let (iq, oq) = (inq(fd).unwrap_or(-1), outq(fd).unwrap_or(-1));
    let r = set_ulp(fd, "handoff");
    let mut info = format!(
        "hsockopt mode=server ulp={} inq={iq} outq={oq} queued={queued}",
        result_name(&r)
    );
    if flag(v, "--twice") {
        info += &format!(" ulp2={}", result_name(&set_ulp(fd, "handoff")));
    }
    println!("{info}");
    // The client resumes reading only now; then the bytes of the stream
    // generated but not written yet go first.
    if let Some(f) = &sync {
        std::fs::write(f, b"").map_err(io("sync file"))?;
    }
    let tail = pending.len() as u64;
    if tail > 0 {
        (&s).write_all(&pending).map_err(io("write after opt-in"))?;
    }
    let line = finish(s, p, hash, queued + tail, bytes).map_err(io("exchange"))?;
    println!("{line}");
    Ok(true)
}

fn run() -> Result<bool, String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    if flag(&v, "--help") || flag(&v, "-h") {
        println!("{USAGE}");
        return Ok(true);
    }
    // SAFETY: ignoring SIGPIPE is always sound.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    match v.first().map(String::as_str) {
        Some(m @ ("listen" | "unconnected" | "closed" | "udp")) => probe(m, &v),
        Some("server") => established(true, &v),
        Some("client") => established(false, &v),
        _ => Err("first argument: listen, unconnected, closed, udp, server or client".into()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("hsockopt: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
