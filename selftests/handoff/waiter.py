#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Both ends of wakeups.sh: offloaded waiters of every kind (ns srv) and
stock peers that detect stalls (ns cli), one thread per connection, for
every case of several transitions at once.

  waiter.py serve [--bytes N] [--rest N] CASE...          (ns srv)
  waiter.py peer STALL [--bytes N] [--rest N] CASE...     (ns cli)

CASE is DIR,NAME,KIND,ROLE,ADDR,PORT,FLAGS: the case's files are
DIR/NAME.srv and DIR/NAME.cli, and its peer connects once DIR/connect
exists (the waiters listen from the start). KIND is how the offloaded
side waits:

  select, poll         select(2)/poll(2), then one call with MSG_DONTWAIT
  epoll                level-triggered epoll, one call per wake-up
  epoll-et             edge-triggered epoll (EPOLLET): calls until EAGAIN,
                       and only then epoll_wait again, as an ET application
  block                blocking send/recv
  timeo                blocking with SO_SNDTIMEO/SO_RCVTIMEO of 0.5 s,
                       calling again on each EAGAIN (each logged "timeout")

ROLE writer: accept; send BYTES (the first send hands the connection off),
shutdown(SHUT_WR), then read the peer's REST bytes up to EOF. Its peer
(drain) waits for DIR/gate, reads BYTES and EOF, sends REST and its FIN.
ROLE reader: accept; read the peer's 1-byte hello (the handoff), then
BYTES up to EOF, then close. Its peer (feed) sends the hello, waits for
DIR/gate, sends BYTES and its FIN, then reads EOF. The poll kinds read to
EOF and then must have seen POLLRDHUP/EPOLLRDHUP (select: readable).

FLAGS (letters, or -): c, a reader shuts down its write side right after
the hello, before it waits; h, a poll-kind waiter gets a helper thread
asleep in a blocking recv(MSG_PEEK) on the same socket, which keeps the
connection's re-handoff deferred: once DIR/kick exists the helper gets
SIGUSR1, and its interrupted recv, called again, is the next system call;
r, the connection is expected to be reset: after the gate the peer pokes
it and waits for ECONNRESET/EPIPE. The poll kinds use a blocking socket
and MSG_DONTWAIT (the kernel turns O_NONBLOCK into the same flag), so
that a helper on the same socket can block.

The stream is a fixed 64 KiB pattern, sent from its start on every call.
Each side writes lines to its file: "tid N" (the thread's native id),
"helper N", "timeout SECS", and one result: "done out=N:SHA256
in=N:SHA256" (bytes sent and received, the hello excluded), "error ERRNO
out=... in=... last=N" (a failed call; last: what the call before it
returned), "fail: WHY", or for a peer "stall: ..." (no progress for STALL
s after the gate; the peer then keeps its socket open until DIR/release
exists, so the test can look at the stalled connection) or "reset ERRNO
...".
"""

import errno
import hashlib
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

PATTERN = bytes(range(256)) * 256
SMALL_RCVBUF = 64 << 10
POLL_KINDS = ("select", "poll", "epoll", "epoll-et")
KINDS = POLL_KINDS + ("block", "timeo")
TIMEO = 0.5
# (DIR, thread) of each helper started; the main thread signals them.
HELPERS = []
HELPERS_LOCK = threading.Lock()


class Failure(Exception):
    pass


class Case:
    def __init__(self, spec):
        self.dir, self.name, self.kind, self.role, self.addr, port, self.flags = spec.split(",")
        self.port = int(port)
        if self.kind not in KINDS or self.role not in ("writer", "reader"):
            sys.exit(f"bad case {spec}")
        self.family = socket.AF_INET6 if ":" in self.addr else socket.AF_INET


class Out:
    """One case's log file, plus what moved each way."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.out_n, self.out_h = 0, hashlib.sha256()
        self.in_n, self.in_h = 0, hashlib.sha256()
        self.last = None

    def put(self, line):
        self.f.write(line + "\n")

    def sent(self, b):
        self.last = len(b)
        self.out_n += len(b)
        self.out_h.update(b)

    def got(self, b):
        self.last = len(b)
        self.in_n += len(b)
        self.in_h.update(b)

    def moved(self):
        return f"out={self.out_n}:{self.out_h.hexdigest()} in={self.in_n}:{self.in_h.hexdigest()}"


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno))


# Files threads wait for (path: Event); the main thread looks for them.
WANTED = {}
WANTED_LOCK = threading.Lock()


def wait_file(path):
    # The test creates the file once every waiter sleeps where it is meant
    # to; one thread polls for all of them (the process's own pace, not a
    # wait in the test), the others sleep on an Event.
    with WANTED_LOCK:
        ev = WANTED.setdefault(path, threading.Event())
    ev.wait()


def look_for_files():
    with WANTED_LOCK:
        waiting = [(p, ev) for p, ev in WANTED.items() if not ev.is_set()]
    for p, ev in waiting:
        if os.path.exists(p):
            ev.set()


class Waiter:
    """Readiness waits of one poll kind on one socket."""

    def __init__(self, kind, s):
        self.kind, self.s, self.fd = kind, s, s.fileno()
        self.seen, self.dir = 0, None
        if kind == "poll":
            self.p = select.poll()
        elif kind.startswith("epoll"):
            self.p = select.epoll()
            self.et = select.EPOLLET if kind == "epoll-et" else 0

    def wait(self, d, timeout=None):
        """Waits until the socket is ready for d ("r" or "w"); the mask."""
        if self.kind == "select":
            r, w, _ = select.select([self.s] if d == "r" else [], [self.s] if d == "w" else [], [], timeout)
            mask = (select.POLLIN if r else 0) | (select.POLLOUT if w else 0)
        else:
            # poll and epoll: the same registration, their own flag names
            # and timeout units (ms, s).
            if self.kind == "poll":
                ev = select.POLLIN | select.POLLRDHUP if d == "r" else select.POLLOUT
                t = None if timeout is None else int(timeout * 1000)
            else:
                ev = (select.EPOLLIN | select.EPOLLRDHUP if d == "r" else select.EPOLLOUT) | self.et
                t = -1 if timeout is None else timeout
            if self.dir is None:
                self.p.register(self.fd, ev)
            elif self.dir != d:
                self.p.modify(self.fd, ev)
            self.dir = d
            mask = 0
            for _, m in self.p.poll(t):
                mask |= m
        self.seen |= mask
        return mask


def call(kind, out, fn):
    """One send/recv of a blocking kind: None on a SO_*TIMEO timeout."""
    t0 = time.monotonic()
    try:
        return fn()
    except BlockingIOError:
        if kind != "timeo":
            raise Failure("EAGAIN from a blocking call")
        took = time.monotonic() - t0
        out.put(f"timeout {took:.2f}")
        if took < TIMEO / 2:
            raise Failure(f"a {TIMEO} s timeout returned EAGAIN after {took:.3f} s")
        return None


def send_all(kind, s, w, out, total):
    """Sends total bytes of the pattern, waiting the kind's way."""
    while out.out_n < total:
        chunk = PATTERN[: min(len(PATTERN), total - out.out_n)]
        if kind in POLL_KINDS:
            w.wait("w")
            # ET: call until EAGAIN before waiting again; the others make
            # one call per wake-up.
            while out.out_n < total:
                chunk = PATTERN[: min(len(PATTERN), total - out.out_n)]
                try:
                    n = s.send(chunk, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                out.sent(chunk[:n])
                if kind != "epoll-et":
                    break
        else:
            n = call(kind, out, lambda: s.send(chunk))
            if n is not None:
                out.sent(chunk[:n])


def recv_to_eof(kind, s, w, out, limit):
    """Reads until EOF (at most limit bytes), waiting the kind's way; then
    checks that the end of the stream is reported as the kind reports it."""
    if w:
        w.seen = 0
    eof = False
    while not eof:
        if kind in POLL_KINDS:
            w.wait("r")
            while True:
                try:
                    b = s.recv(len(PATTERN), socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if not b:
                    eof = True
                    break
                out.got(b)
                if kind != "epoll-et":
                    break
        else:
            b = call(kind, out, lambda: s.recv(len(PATTERN)))
            if b is None:
                continue
            if not b:
                eof = True
            out.got(b)
        if out.in_n > limit:
            raise Failure(f"{out.in_n} bytes, more than the {limit} expected")
    if kind == "select":
        if not w.wait("r", 0) & select.POLLIN:
            raise Failure("EOF, but select() does not report the socket readable")
    elif kind in POLL_KINDS:
        w.wait("r", 0)
        rdhup = select.POLLRDHUP if kind == "poll" else select.EPOLLRDHUP
        if not w.seen & rdhup:
            raise Failure(f"EOF without {kind.upper()} RDHUP (events seen {w.seen:#x})")
    elif s.recv(1) != b"":
        raise Failure("a second read after EOF returned data")


def helper(s, out):
    """Sleeps in native TCP on the socket (blocking recv, MSG_PEEK) until the
    test's SIGUSR1 interrupts it; the recv is then called again (PEP 475)."""
    out.put(f"helper {threading.get_native_id()}")
    try:
        s.recv(1, socket.MSG_PEEK)
    except OSError as e:
        out.put(f"helper error {errname(e)}")


def serve_one(c, o):
    out = Out(os.path.join(c.dir, c.name + ".srv"))
    s = None
    try:
        ls = socket.socket(c.family, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((c.addr, c.port))
        ls.listen(1)
        out.put("listening")
        s, _ = ls.accept()
        ls.close()
        out.put(f"tid {threading.get_native_id()}")
        if c.kind == "timeo":
            tv = struct.pack("ll", 0, int(TIMEO * 1e6))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        w = Waiter(c.kind, s) if c.kind in POLL_KINDS else None
        if c.role == "writer":
            # The first call hands the connection off.
            n = s.send(PATTERN[:1024])
            out.sent(PATTERN[:n])
        else:
            if s.recv(1) != b"h":
                raise Failure("no hello")
            if "c" in c.flags:
                s.shutdown(socket.SHUT_WR)
        if "h" in c.flags and c.kind in POLL_KINDS:
            h = threading.Thread(target=helper, args=(s, out), daemon=True)
            h.start()
            with HELPERS_LOCK:
                HELPERS.append((c.dir, h))
        if c.role == "writer":
            send_all(c.kind, s, w, out, o["bytes"])
            s.shutdown(socket.SHUT_WR)
            recv_to_eof(c.kind, s, w, out, o["rest"])
        else:
            recv_to_eof(c.kind, s, w, out, o["bytes"])
        out.put("done " + out.moved())
    except OSError as e:
        out.put(f"error {errname(e)} {out.moved()} last={out.last}")
    except Failure as e:
        out.put(f"fail: {e} ({out.moved()})")
    finally:
        if s:
            s.close()


def peer_one(c, o, stall):
    d = c.dir
    out = Out(os.path.join(d, c.name + ".cli"))
    s = socket.socket(c.family, socket.SOCK_STREAM)
    what = "connect"
    reset = "r" in c.flags
    try:
        wait_file(os.path.join(d, "connect"))
        # A small receive buffer, so the writer's buffers fill at once.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
        s.connect((c.addr, c.port))
        out.put("connected")
        if c.role == "reader":
            s.sendall(b"h")
        wait_file(os.path.join(d, "gate"))
        s.settimeout(stall)
        if reset:
            what = "reset"
            if c.role == "writer":
                s.send(b"p")
            while True:
                if c.role == "writer":
                    b = s.recv(len(PATTERN))
                    if not b:
                        raise Failure(f"EOF instead of a reset ({out.moved()})")
                    out.got(b)
                else:
                    out.sent(PATTERN[: s.send(PATTERN)])
        if c.role == "writer":
            what = "receive"
            while True:
                b = s.recv(len(PATTERN))
                if not b:
                    break
                out.got(b)
            if out.in_n != o["bytes"]:
                raise Failure(f"EOF after {out.in_n} of {o['bytes']} bytes")
            what = "send"
            while out.out_n < o["rest"]:
                out.sent(PATTERN[: s.send(PATTERN[: min(len(PATTERN), o["rest"] - out.out_n)])])
            s.shutdown(socket.SHUT_WR)
        else:
            what = "send"
            while out.out_n < o["bytes"]:
                out.sent(PATTERN[: s.send(PATTERN[: min(len(PATTERN), o["bytes"] - out.out_n)])])
            s.shutdown(socket.SHUT_WR)
            what = "receive (EOF)"
            b = s.recv(1)
            if b:
                raise Failure("data from a reader")
        out.put("done " + out.moved())
    except socket.timeout:
        out.put(f"stall: no {what} progress for {stall} s after {out.moved()}")
        wait_file(os.path.join(d, "release"))
    except OSError as e:
        out.put(f"{'reset' if reset else 'error'} {errname(e)} {out.moved()}")
    except Failure as e:
        out.put(f"fail: {e}")
    finally:
        s.close()


def options(args):
    o = {"bytes": 4 << 20, "rest": 64 << 10}
    cases = []
    while args:
        a = args.pop(0)
        if a in ("--bytes", "--rest"):
            o[a[2:]] = int(args.pop(0))
        else:
            cases.append(Case(a))
    return o, cases


def main():
    role = sys.argv[1]
    if role == "serve":
        o, cases = options(sys.argv[2:])
        signal.signal(signal.SIGUSR1, lambda *_: None)
        ts = [threading.Thread(target=serve_one, args=(c, o)) for c in cases]
    elif role == "peer":
        stall = float(sys.argv[2])
        o, cases = options(sys.argv[3:])
        ts = [threading.Thread(target=peer_one, args=(c, o, stall)) for c in cases]
    else:
        sys.exit(f"unknown role {role}")
    for t in ts:
        t.start()
    kicked = set()
    while any(t.is_alive() for t in ts):
        with HELPERS_LOCK:
            for d, h in HELPERS:
                if h not in kicked and h.is_alive() and os.path.exists(os.path.join(d, "kick")):
                    kicked.add(h)
                    signal.pthread_kill(h.ident, signal.SIGUSR1)
        look_for_files()
        time.sleep(0.05)


main()
