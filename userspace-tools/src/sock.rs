//! Socket helpers the standard library lacks: options set before
//! `connect(2)`, `SO_LINGER`, keepalive timers, `TCP_ULP`, queue lengths,
//! and errno names for test output.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::{Duration, Instant};

/// The symbolic name of an errno value (`EINVAL`), or `E<number>`.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENOBUFS => "ENOBUFS",
        libc::EISCONN => "EISCONN",
        libc::ENOTCONN => "ENOTCONN",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EALREADY => "EALREADY",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EPIPE => "EPIPE",
        libc::ESRCH => "ESRCH",
        libc::EISDIR => "EISDIR",
        _ => return format!("E{e}"),
    };
    name.to_string()
}

/// `OK` for success, else the errno name of `r`.
pub fn result_name(r: &io::Result<()>) -> String {
    match r {
        Ok(()) => "OK".into(),
        Err(e) => e.raw_os_error().map_or_else(|| e.to_string(), errno_name),
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `setsockopt(fd, level, name, &value, sizeof value)`.
pub fn setsockopt<T>(fd: RawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the length passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
}

/// Attaches the TCP upper-layer protocol `name` (`TCP_ULP`), e.g. "handoff".
pub fn set_ulp(fd: RawFd, name: &str) -> io::Result<()> {
    // SAFETY: the buffer is `name`'s bytes, of the length passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_ULP,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    })
}

/// `SO_LINGER` on with a zero timeout: `close(2)` then sends a RST.
pub fn set_linger_zero(fd: RawFd) -> io::Result<()> {
    setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    )
}

/// `SO_KEEPALIVE` with probes after `idle` seconds, every `intvl` seconds,
/// `cnt` unanswered probes before the connection is dropped.
pub fn set_keepalive(fd: RawFd, idle: i32, intvl: i32, cnt: i32) -> io::Result<()> {
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &1i32)?;
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, &idle)?;
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, &intvl)?;
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, &cnt)
}

fn ioctl_int(fd: RawFd, req: libc::c_ulong) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    // SAFETY: SIOCINQ/SIOCOUTQ write one int.
    check(unsafe { libc::ioctl(fd, req as _, &mut v) })?;
    Ok(v)
}

/// The socket's cookie (`SO_COOKIE`): the number `ss -e` prints as
/// `sk:<hex>` and `net.handoff.restore` accepts (in decimal or `0x` hex).
pub fn cookie(fd: RawFd) -> io::Result<u64> {
    let mut v: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: SO_COOKIE writes one u64 into the buffer of the length passed.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            (&mut v as *mut u64).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// `getsockopt(TCP_INFO)`: the kernel's view of the connection (for an
/// offloaded socket, the NIC's).
pub fn tcp_info(fd: RawFd) -> io::Result<libc::tcp_info> {
    // SAFETY: all-zero is a valid tcp_info (plain integers).
    let mut v: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: TCP_INFO writes at most `len` bytes into the buffer.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut v as *mut libc::tcp_info).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// The errno name of an I/O error (`ECONNRESET`), or `EOTHER` when it
/// carries none (e.g. an unexpected EOF the tool detected itself).
pub fn io_errno_name(e: &io::Error) -> String {
    e.raw_os_error().map_or_else(|| "EOTHER".into(), errno_name)
}

/// Blocks until `path` exists. One thread per path and process checks it
/// every 10 ms and wakes the others: a thousand connection threads each
/// polling the file would flood the filesystem (in the VM, a 9p mount)
/// with lookups and starve everything else.
pub fn wait_file(path: &std::path::Path) {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Arc, Condvar, Mutex, OnceLock};
    type Flag = Arc<(Mutex<bool>, Condvar)>;
    static WATCHED: OnceLock<Mutex<HashMap<PathBuf, Flag>>> = OnceLock::new();
    let flag = {
        let mut watched = WATCHED.get_or_init(Default::default).lock().unwrap();
        match watched.get(path) {
            Some(f) => f.clone(),
            None => {
                let f: Flag = Arc::new((Mutex::new(false), Condvar::new()));
                watched.insert(path.to_path_buf(), f.clone());
                let (f2, p) = (f.clone(), path.to_path_buf());
                std::thread::spawn(move || {
                    while !p.exists() {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    *f2.0.lock().unwrap() = true;
                    f2.1.notify_all();
                });
                f
            }
        }
    };
    let (done, cv) = &*flag;
    let mut d = done.lock().unwrap();
    while !*d {
        d = cv.wait(d).unwrap();
    }
}

/// Bytes in the receive queue not yet read (`SIOCINQ`).
pub fn inq(fd: RawFd) -> io::Result<i32> {
    ioctl_int(fd, libc::FIONREAD as libc::c_ulong)
}

/// Bytes in the send queue not yet acknowledged (`SIOCOUTQ`).
pub fn outq(fd: RawFd) -> io::Result<i32> {
    ioctl_int(fd, libc::TIOCOUTQ as libc::c_ulong)
}

/// A new socket of `addr`'s family.
pub fn socket(addr: &SocketAddr, ty: i32) -> io::Result<RawFd> {
    let family = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
    check(fd)?;
    Ok(fd)
}

/// `addr` as a `sockaddr_storage` and its length.
pub fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// One `connect(2)` attempt on a fresh TCP socket, after `setup` has set
/// options on it (e.g. `SO_RCVBUF`, which must precede the handshake).
pub fn connect_with(
    addr: SocketAddr,
    setup: &dyn Fn(RawFd) -> io::Result<()>,
) -> io::Result<TcpStream> {
    let fd = socket(&addr, libc::SOCK_STREAM)?;
    // SAFETY: `fd` is a fresh socket we own; the stream closes it on drop.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    setup(fd)?;
    let (ss, len) = sockaddr(&addr);
    // SAFETY: `ss` holds a valid address of length `len`.
    check(unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) })?;
    Ok(stream)
}

/// Connects, retrying for up to 10 s while the server is not listening yet.
pub fn connect_retry(
    addr: SocketAddr,
    setup: &dyn Fn(RawFd) -> io::Result<()>,
) -> io::Result<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connect_with(addr, setup) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// No options: for `connect_with`/`connect_retry`.
pub fn no_setup(_: RawFd) -> io::Result<()> {
    Ok(())
}

/// Hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Closes a stream with `SO_LINGER` 0 (a RST instead of a FIN).
pub fn abort(s: TcpStream) -> io::Result<()> {
    set_linger_zero(s.as_raw_fd())?;
    drop(s);
    Ok(())
}

/// Value of `--name` in `v`.
pub fn arg(v: &[String], name: &str) -> Option<String> {
    v.iter()
        .position(|a| a == name)
        .and_then(|i| v.get(i + 1).cloned())
}

/// Parsed value of `--name`, or `default` when absent.
pub fn arg_or<T: std::str::FromStr>(v: &[String], name: &str, default: T) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    arg(v, name).map_or(Ok(default), |s| {
        s.parse().map_err(|e| format!("{name}: {e}"))
    })
}

/// True when the flag `--name` is present.
pub fn flag(v: &[String], name: &str) -> bool {
    v.iter().any(|a| a == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::EINVAL), "EINVAL");
        assert_eq!(errno_name(libc::ENOTCONN), "ENOTCONN");
        assert_eq!(errno_name(9999), "E9999");
    }

    #[test]
    fn connect_with_sets_options_before_connect() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s = connect_with(addr, &|fd| {
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &4096i32)
        })
        .unwrap();
        let (_peer, _) = l.accept().unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
        assert_eq!(inq(s.as_raw_fd()).unwrap(), 0);
        assert_ne!(
            cookie(s.as_raw_fd()).unwrap(),
            cookie(_peer.as_raw_fd()).unwrap()
        );
        assert_eq!(outq(s.as_raw_fd()).unwrap(), 0);
    }
}
