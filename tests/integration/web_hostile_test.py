#!/usr/bin/python3
"""The metrics listener against hostile HTTP clients, on the real daemon.

usage: web_hostile_test.py FETCHD_BINARY

fetchd with web_listen on an ephemeral loopback port, web_max_clients 64 and a 1 s request-head
timeout (FETCHD_TEST_WEB_HEAD_MS). Each case is bounded and, after each, a normal scrape answers:
  - a head dripped a byte at a time: 408, then closed;
  - a 1 MiB request line: 431 as soon as 8 KiB arrived, then closed;
  - garbage: 400, then closed;
  - 2,000 connections opened and held (then silent): the newest are admitted by closing the idle
    ones, and a scrape still answers meanwhile;
  - pipelined requests: answered in order on one connection;
  - five pipelined scrapes: four are served, the fifth gets 503 with Retry-After (at most four
    scrapes in progress, each holding a copy of the targets' series);
  - requests after `Connection: close`: not answered, the connection closes;
  - Accept-Encoding: gzip and x-gzip in any case, not with q=0 nor other codings;
  - a request body over 64 KiB: 413.
Python standard library only; every wait has a deadline. Exit 0 pass, 1 fail.
"""

import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time


class Failure(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def read_all(s, limit=1 << 22, deadline_s=10.0):
    """Everything until the server closes (bounded in bytes and time)."""
    s.settimeout(deadline_s)
    chunks = []
    total = 0
    end = time.monotonic() + deadline_s
    while total < limit and time.monotonic() < end:
        try:
            data = s.recv(65536)
        except socket.timeout:
            raise Failure("the server did not close the connection within %gs" % deadline_s)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def status_of(response):
    line = response.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) < 2 or parts[0] != b"HTTP/1.1":
        raise Failure("not a status line: %r" % line[:100])
    return int(parts[1])


def scrape(port):
    """A normal scrape with Connection: close; returns the body."""
    with connect(port) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = read_all(s)
    if status_of(response) != 200:
        raise Failure("scrape: %r" % response[:200])
    head, _, body = response.partition(b"\r\n\r\n")
    if b"Transfer-Encoding: chunked" not in head:
        raise Failure("scrape: not chunked: %r" % head)
    decoded = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        decoded += body[:size]
        body = body[size + 2:]
    if b"fetchd_build_info" not in decoded:
        raise Failure("scrape: no fetchd_build_info in %d bytes" % len(decoded))
    return decoded


def check(name, condition, detail=""):
    if not condition:
        raise Failure("%s %s" % (name, detail))
    print("  ok: " + name, flush=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    fetchd = sys.argv[1]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    work = tempfile.mkdtemp(prefix="fetchd-web-hostile-")
    port = free_port()
    config = {
        "settings": {
            "control_socket": os.path.join(work, "control.sock"),
            "state_dir": os.path.join(work, "state"),
            "web_listen": ["127.0.0.1:%d" % port],
            "web_max_clients": 64,
        },
        "targets": [{"name": "closed", "url": "http://127.0.0.1:1/", "interval": "1s"}],
    }
    path = os.path.join(work, "fetchd.json")
    with open(path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ, FETCHD_TEST_WEB_HEAD_MS="1000")
    log = open(os.path.join(work, "fetchd.log"), "w")
    daemon = subprocess.Popen([fetchd, "--config", path], stdout=log, stderr=subprocess.STDOUT, env=env)
    held = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                scrape(port)
                break
            except (OSError, Failure):
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise Failure("fetchd did not serve /metrics within 10 s")
                time.sleep(0.05)

        print("a head dripped one byte at a time", flush=True)
        with connect(port) as s:
            started = time.monotonic()
            request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
            response = b""
            for byte in request:
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.1)
                if time.monotonic() - started > 1.5:
                    break
            response = read_all(s, deadline_s=5)
            check("408 within the head timeout", status_of(response) == 408, repr(response[:80]))
            check("closed within 3 s", time.monotonic() - started < 3, "%.1fs" % (time.monotonic() - started))
        scrape(port)

        print("a 1 MiB request line", flush=True)
        with connect(port) as s:
            s.settimeout(5)
            sent = 0
            line = b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n"
            try:
                while sent < len(line):
                    sent += s.send(line[sent:sent + 65536])
            except OSError:
                pass  # the server closed after its 431
            response = read_all(s, deadline_s=5)
            check("431", status_of(response) == 431, repr(response[:80]))
        scrape(port)

        print("garbage", flush=True)
        with connect(port) as s:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
            response = read_all(s)
            check("400 and closed", status_of(response) == 400, repr(response[:80]))
        scrape(port)

        print("2,000 connections opened and held", flush=True)
        for _ in range(2000):
            try:
                held.append(connect(port, timeout=2))
            except OSError as error:
                raise Failure("connection %d: %s" % (len(held), error))
        body = scrape(port)
        check("a scrape answers while 2,000 connections are held", len(body) > 0)
        open_now = 0
        for s in held:
            s.setblocking(False)
            try:
                data = s.recv(1)
                open_now += 0 if data == b"" else 1
            except BlockingIOError:
                open_now += 1
            except OSError:
                pass
        check("at most 64 of them are still open", open_now <= 64, "%d open" % open_now)
        for s in held:
            s.close()
        held.clear()

        print("pipelined requests", flush=True)
        with connect(port) as s:
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"HEAD /-/ready HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                      b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            response = read_all(s)
            statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", response)]
            check("answered in order, none after Connection: close", statuses == [200, 404, 200, 405, 200],
                  repr(statuses))

        print("pipelined scrapes: at most 4 in progress", flush=True)
        with connect(port) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 4 +
                      b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            response = read_all(s)
            statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", response)]
            check("four scrapes, then 503", statuses == [200, 200, 200, 200, 503], repr(statuses))
            check("the 503 says when to retry", b"Retry-After: 1\r\n" in response,
                  repr(response[-300:]))
        scrape(port)  # the four ended: a scrape is served again

        print("Accept-Encoding, case-insensitive, q=0 refuses", flush=True)
        for accept, gzipped in ((b"GZip", True), (b"identity, X-GZIP", True), (b"gzip;q=0", False),
                                (b"gzipx", False), (b"deflate", False)):
            with connect(port) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: " + accept +
                          b"\r\nConnection: close\r\n\r\n")
                head = read_all(s).partition(b"\r\n\r\n")[0]
            check("Accept-Encoding: %s: %s" % (accept.decode(), "gzip" if gzipped else "plain"),
                  (b"Content-Encoding: gzip\r\n" in head + b"\r\n") == gzipped, repr(head))

        print("a request body over 64 KiB", flush=True)
        with connect(port) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            response = read_all(s)
            check("413", status_of(response) == 413, repr(response[:80]))

        check("fetchd still runs", daemon.poll() is None)
        scrape(port)
        print("PASS")
        return 0
    except Failure as failure:
        print("FAIL: %s" % failure)
        log.flush()
        with open(os.path.join(work, "fetchd.log")) as f:
            print(f.read()[-3000:])
        return 1
    finally:
        for s in held:
            s.close()
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
