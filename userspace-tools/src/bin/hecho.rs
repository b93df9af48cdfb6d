//! hecho: an epoll TCP echo server, the "unmodified epoll application".
//!
//! ```text
//! hecho --port P [--addr A] [--v6] [--edge] [--conns N]
//! ```
//!
//! One thread, nonblocking sockets, one epoll set. Every byte read is
//! written back; a partial write keeps the rest and waits for EPOLLOUT
//! (reading stops meanwhile: backpressure). On EOF (EPOLLRDHUP / read 0)
//! the pending bytes are flushed, then `shutdown(SHUT_WR)` and `close`.
//!
//! `--addr` defaults to 0.0.0.0 (`::` with `--v6`). `--edge` registers every
//! socket with EPOLLET; level-triggered otherwise. `--conns N` exits after N
//! connections have closed (0, the default: run until SIGTERM/SIGINT).
//! On exit it prints `hecho conns=N bytes=B resets=R` (connections closed,
//! bytes echoed, connections that ended in an error such as ECONNRESET)
//! and exits 0.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use userspace_tools::sock::{arg, arg_or, flag};

const USAGE: &str = "usage: hecho --port P [--addr A] [--v6] [--edge] [--conns N]
  epoll echo server; --edge: EPOLLET; --conns N: exit after N connections closed
  prints `hecho conns=N bytes=B resets=R` on exit (SIGTERM/SIGINT or --conns)";

const BUF: usize = 64 * 1024;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

struct Conn {
    s: TcpStream,
    /// Bytes read but not yet written back.
    pending: Vec<u8>,
    /// Whether the registered interest is EPOLLOUT (else EPOLLIN).
    want_out: bool,
}

enum Step {
    Open,
    Closed,
    Failed,
}

struct Server {
    ep: RawFd,
    edge: bool,
    buf: Vec<u8>,
    bytes: u64,
}

impl Server {
    fn ctl(&self, op: i32, fd: RawFd, out: bool) -> std::io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (if out {
                libc::EPOLLOUT
            } else {
                libc::EPOLLIN | libc::EPOLLRDHUP
            }) as u32
                | if self.edge { libc::EPOLLET as u32 } else { 0 },
            u64: fd as u64,
        };
        // SAFETY: `ev` is a valid event; `ep` our epoll fd.
        if unsafe { libc::epoll_ctl(self.ep, op, fd, &mut ev) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Moves all the bytes it can: flush pending, read more, until the socket
    /// would block, the peer's EOF has been echoed, or an error.
    fn service(&mut self, c: &mut Conn) -> Step {
        loop {
            while !c.pending.is_empty() {
                match c.s.write(&c.pending) {
                    Ok(n) => {
                        self.bytes += n as u64;
                        c.pending.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if !c.want_out {
                            c.want_out = true;
                            if self
                                .ctl(libc::EPOLL_CTL_MOD, c.s.as_raw_fd(), true)
                                .is_err()
                            {
                                return Step::Failed;
                            }
                        }
                        return Step::Open;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Step::Failed,
                }
            }
            if c.want_out {
                c.want_out = false;
                if self
                    .ctl(libc::EPOLL_CTL_MOD, c.s.as_raw_fd(), false)
                    .is_err()
                {
                    return Step::Failed;
                }
            }
            match c.s.read(&mut self.buf) {
                Ok(0) => {
                    // EOF: everything read has been written back above.
                    return match c.s.shutdown(Shutdown::Write) {
                        Ok(()) => Step::Closed,
                        Err(_) => Step::Failed,
                    };
                }
                Ok(n) => c.pending.extend_from_slice(&self.buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Open,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Failed,
            }
        }
    }
}

fn run() -> Result<(), String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    if flag(&v, "--help") || flag(&v, "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let port: u16 = arg(&v, "--port")
        .ok_or("--port missing")?
        .parse()
        .map_err(|e| format!("--port: {e}"))?;
    let default = if flag(&v, "--v6") { "::" } else { "0.0.0.0" };
    let ip: IpAddr = arg_or(&v, "--addr", default.to_string())?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let limit: u64 = arg_or(&v, "--conns", 0)?;
    let edge = flag(&v, "--edge");

    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let listener =
        TcpListener::bind(SocketAddr::new(ip, port)).map_err(|e| format!("bind: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    // SAFETY: plain syscall.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(format!(
            "epoll_create1: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut srv = Server {
        ep,
        edge,
        buf: vec![0u8; BUF],
        bytes: 0,
    };
    let lfd = listener.as_raw_fd();
    srv.ctl(libc::EPOLL_CTL_ADD, lfd, false)
        .map_err(|e| format!("epoll_ctl: {e}"))?;

    let mut conns: HashMap<RawFd, Conn> = HashMap::new();
    let (mut closed, mut resets) = (0u64, 0u64);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    while !STOP.load(Ordering::Relaxed) && (limit == 0 || closed < limit) {
        // SAFETY: `events` has room for the count passed.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 200) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("epoll_wait: {e}"));
        }
        for ev in &events[..n as usize] {
            let fd = ev.u64 as RawFd;
            if fd == lfd {
                // Edge-triggered: accept until the queue is empty.
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            if s.set_nonblocking(true).is_err() {
                                continue;
                            }
                            let cfd = s.as_raw_fd();
                            if srv.ctl(libc::EPOLL_CTL_ADD, cfd, false).is_err() {
                                continue;
                            }
                            let mut c = Conn {
                                s,
                                pending: Vec::new(),
                                want_out: false,
                            };
                            // Data may have arrived before registration.
                            match srv.service(&mut c) {
                                Step::Open => {
                                    conns.insert(cfd, c);
                                }
                                Step::Closed => closed += 1,
                                Step::Failed => {
                                    closed += 1;
                                    resets += 1;
                                }
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        // ECONNABORTED and the like: the next one may work.
                        Err(_) => break,
                    }
                }
                continue;
            }
            let Some(mut c) = conns.remove(&fd) else {
                continue;
            };
            match srv.service(&mut c) {
                Step::Open => {
                    conns.insert(fd, c);
                }
                // Dropping the stream closes it (and leaves the epoll set).
                Step::Closed => closed += 1,
                Step::Failed => {
                    closed += 1;
                    resets += 1;
                }
            }
        }
    }
    println!("hecho conns={closed} bytes={} resets={resets}", srv.bytes);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hecho: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
