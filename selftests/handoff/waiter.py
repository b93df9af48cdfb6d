#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Both ends of wakeups.sh: an offloaded side that sleeps in select() and a
stock peer that detects stalls.

  waiter.py writer ADDR PORT BYTES   (ns srv) accept; send BYTES, waiting
                                     for writability in select() each time
  waiter.py reader ADDR PORT BYTES   (ns srv) accept; read a 1-byte hello,
                                     then BYTES, waiting for readability in
                                     select() each time
  waiter.py drain ADDR PORT BYTES GATE STALL
                                     (ns cli) connect; once GATE exists,
                                     read BYTES
  waiter.py feed ADDR PORT BYTES GATE STALL
                                     (ns cli) connect; send the hello; once
                                     GATE exists, send BYTES

The stream is a fixed 64 KiB pattern, sent from its start on every write;
each side prints "sha256 HEX" of what it moved. The peer gives up with
"stall: ..." (exit 3) when its socket makes no progress for STALL seconds
after the gate opened: the offloaded side's waiter was not woken. The
offloaded side waits without a timeout; the peer's exit ends it.
"""

import hashlib
import os
import select
import socket
import sys
import time

PATTERN = bytes(range(256)) * 256
SMALL_RCVBUF = 64 << 10


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def accept(addr, port):
    ls = socket.socket(family(addr), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    print("listening", flush=True)
    c, _ = ls.accept()
    ls.close()
    return c


def writer(addr, port, total):
    c = accept(addr, port)
    c.setblocking(False)
    h, sent = hashlib.sha256(), 0
    while sent < total:
        select.select([], [c], [])
        try:
            n = c.send(PATTERN[: min(len(PATTERN), total - sent)])
        except BlockingIOError:
            continue
        h.update(PATTERN[:n])
        sent += n
    c.shutdown(socket.SHUT_WR)
    # The peer's "x" says it has read everything.
    c.setblocking(True)
    c.recv(1)
    print("sha256", h.hexdigest(), flush=True)


def reader(addr, port, total):
    c = accept(addr, port)
    # The hello's read is the first system call: it hands the connection off.
    if c.recv(1) != b"h":
        sys.exit("reader: no hello")
    print("hello", flush=True)
    c.setblocking(False)
    h, got = hashlib.sha256(), 0
    while got < total:
        select.select([c], [], [])
        try:
            b = c.recv(len(PATTERN))
        except BlockingIOError:
            continue
        if not b:
            sys.exit(f"reader: EOF after {got} of {total} bytes")
        h.update(b)
        got += len(b)
    print("sha256", h.hexdigest(), flush=True)


def connect(addr, port):
    c = socket.socket(family(addr), socket.SOCK_STREAM)
    # A small receive buffer, so the writer's send buffer fills at once.
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    c.connect((addr, port))
    print("connected", flush=True)
    return c


def await_gate(gate):
    # The test opens the gate once the offloaded side sleeps where it is
    # meant to; polling a file here is the peer's own pace, not a wait in
    # the test.
    while not os.path.exists(gate):
        time.sleep(0.05)


def stall(what, done, total, stall_secs):
    print(f"stall: no {what} progress for {stall_secs} s after {done} of {total} bytes", flush=True)
    sys.exit(3)


def drain(addr, port, total, gate, stall_secs):
    c = connect(addr, port)
    await_gate(gate)
    c.settimeout(stall_secs)
    h, got = hashlib.sha256(), 0
    while got < total:
        try:
            b = c.recv(len(PATTERN))
        except socket.timeout:
            stall("receive", got, total, stall_secs)
        if not b:
            sys.exit(f"drain: EOF after {got} of {total} bytes")
        h.update(b)
        got += len(b)
    c.send(b"x")
    print("sha256", h.hexdigest(), flush=True)


def feed(addr, port, total, gate, stall_secs):
    c = connect(addr, port)
    c.sendall(b"h")
    await_gate(gate)
    c.settimeout(stall_secs)
    h, sent = hashlib.sha256(), 0
    while sent < total:
        try:
            n = c.send(PATTERN[: min(len(PATTERN), total - sent)])
        except socket.timeout:
            stall("send", sent, total, stall_secs)
        h.update(PATTERN[:n])
        sent += n
    print("sha256", h.hexdigest(), flush=True)


def main():
    role, addr, port, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if role in ("writer", "reader"):
        {"writer": writer, "reader": reader}[role](addr, port, total)
    elif role in ("drain", "feed"):
        gate, stall_secs = sys.argv[5], float(sys.argv[6])
        {"drain": drain, "feed": feed}[role](addr, port, total, gate, stall_secs)
    else:
        sys.exit(f"unknown role {role}")


main()
