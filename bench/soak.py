#!/usr/bin/python3
"""Soak: the real fetchd for SOAK_MINUTES against a mixed population, with control clients busy.

10,000 targets (SOAK_TARGETS) at 2 s (SOAK_INTERVAL_MS): nginx over http and https (the anchors'
loopback servers), closed ports, the scripted hostile behaviours served here (silence, slow drip,
resets, endless headers, a huge body), and names that do not exist or are never answered (a DNS
server of this script's own, on loopback). Meanwhile a control client asks `status` and `show`
five times a second and adds and removes a runtime target every two seconds.

Every SAMPLE_SECONDS (60) it records the daemon's RSS, open descriptors, scheduling lateness p99
(status' schedule_lateness_us: the last minute's starts, up to 65,536), fetches per second and the latest
outcome of every target by error class; at the end it prints the slopes of RSS and descriptors
after warm-up (the first fifth of the run, and at least until every history is full: SOAK_HISTORY
results of SOAK_INTERVAL_MS), the worst lateness, and whether the daemon survived.
With an ASan build (BUILD=build/asan) the daemon's log is searched for sanitizer reports too.
SOAK_MIX=silent is the in-flight limit's fault test instead: 99% of the targets (by default
10,000 at 2 s) are a server that accepts and never answers, 1% nginx, max_in_flight 256
(SOAK_MAX_IN_FLIGHT); each sample adds the in-flight count and how stale the nginx targets' latest
results are (how long others wait behind the silent ones).
Everything runs on 127.0.0.1; every wait is bounded.
"""

import asyncio
import datetime
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build/release"))
MINUTES = float(os.environ.get("SOAK_MINUTES", "60"))
SAMPLE_SECONDS = float(os.environ.get("SAMPLE_SECONDS", "60"))
TARGETS = int(os.environ.get("SOAK_TARGETS", "10000"))
INTERVAL_MS = int(os.environ.get("SOAK_INTERVAL_MS", "2000"))
HISTORY = int(os.environ.get("SOAK_HISTORY", "100"))
# RSS grows until every target's history is full: warm-up lasts at least that long.
WARM_UP_MINUTES = max(MINUTES / 5, HISTORY * INTERVAL_MS / 60000 + 1)
MIX = os.environ.get("SOAK_MIX", "mixed")
MAX_IN_FLIGHT = int(os.environ.get("SOAK_MAX_IN_FLIGHT", "256" if MIX == "silent" else "4000"))
HOSTILE_BASE = 19001
DNS_PORT = 19053

# Share of the population, in percent, and the URL of each kind (i is the target's number).
POPULATION = [
    (58, "nginx-http", lambda i: "http://127.0.0.1:18080/"),
    (15, "nginx-https", lambda i: "https://127.0.0.1:18443/"),
    (5, "closed-port", lambda i: "http://127.0.0.1:1/"),
    (2, "silence", lambda i: f"http://127.0.0.1:{HOSTILE_BASE}/"),
    (2, "slow-drip", lambda i: f"http://127.0.0.1:{HOSTILE_BASE + 1}/"),
    (2, "reset", lambda i: f"http://127.0.0.1:{HOSTILE_BASE + 2}/"),
    (2, "endless-headers", lambda i: f"http://127.0.0.1:{HOSTILE_BASE + 3}/"),
    (2, "huge-body", lambda i: f"http://127.0.0.1:{HOSTILE_BASE + 4}/"),
    (6, "resolved-name", lambda i: f"http://h{i}.ok.test:18080/"),
    (3, "unresolvable-name", lambda i: f"http://h{i}.nx.test/"),
    (3, "stalled-name", lambda i: f"http://h{i}.stall.test/"),
]
if MIX == "silent":
    POPULATION = [
        (99, "silence", lambda i: f"http://127.0.0.1:{HOSTILE_BASE}/"),
        (1, "nginx-http", lambda i: "http://127.0.0.1:18080/"),
    ]


# --- hostile servers -------------------------------------------------------------------------


async def silence(reader, writer):
    await asyncio.sleep(30)
    writer.close()


async def slow_drip(reader, writer):
    try:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(300):
            await asyncio.sleep(0.2)
            writer.write(b"X")
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    writer.close()


async def reset(reader, writer):
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def endless_headers(reader, writer):
    try:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Endless: " + b"a" * 1000 + b"\r\n"
        for _ in range(10_000):
            writer.write(line)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    writer.close()


async def huge_body(reader, writer):
    try:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
        block = b"0" * 65536
        for _ in range(1_000):
            writer.write(block)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    writer.close()


# --- DNS: *.ok.test -> 127.0.0.1, *.nx.test -> NXDOMAIN, *.stall.test -> no answer -------------


class Dns(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, address):
        if len(data) < 12:
            return
        labels, at = [], 12
        while at < len(data) and data[at] != 0:
            labels.append(data[at + 1 : at + 1 + data[at]].decode("ascii", "replace").lower())
            at += 1 + data[at]
        question_end = at + 5
        name = ".".join(labels)
        qtype = struct.unpack("!H", data[at + 1 : at + 3])[0] if at + 3 <= len(data) else 0
        if name.endswith(".stall.test"):
            return
        found = name.endswith(".ok.test")
        flags = 0x8180 if found else 0x8183
        answers = 1 if found and qtype == 1 else 0
        reply = data[:2] + struct.pack("!HHHHH", flags, 1, answers, 0, 0) + data[12:question_end]
        if answers:
            reply += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
        self.transport.sendto(reply, address)


# --- the daemon -------------------------------------------------------------------------------


KINDS = [kind for share, kind, _ in POPULATION for _ in range(share)]


def target_name(i):
    return f"{KINDS[i % len(KINDS)]}-{i}"


def write_config(directory):
    targets = []
    urls = {kind: url for _, kind, url in POPULATION}
    for i in range(TARGETS):
        kind = KINDS[i % len(KINDS)]
        targets.append({"name": target_name(i), "url": urls[kind](i), "labels": {"kind": kind}})
    config = {
        "settings": {
            "control_socket": os.path.join(directory, "control.sock"),
            "state_dir": os.path.join(directory, "state"),
            "dns_servers": [f"127.0.0.1:{DNS_PORT}"],
            "dns_timeout": "1s",
            "dns_attempts": 1,
            "max_in_flight": MAX_IN_FLIGHT,
            "history_length": HISTORY,
            "max_clients": 16,
        },
        "defaults": {
            "interval": f"{INTERVAL_MS}ms",
            "timeout": f"{INTERVAL_MS * 3 // 4}ms",
            "tls": {"verify": False},
        },
        "targets": targets,
    }
    path = os.path.join(directory, "fetchd.json")
    with open(path, "w") as file:
        json.dump(config, file)
    return path


class Control:
    """One NDJSON connection to the control socket."""

    def __init__(self, path):
        self.path = path

    async def connect(self):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_unix_connection(self.path, limit=64 << 20), 10)

    async def ask(self, cmd, **args):
        self.writer.write((json.dumps({"cmd": cmd, "args": args}) + "\n").encode())
        line = await asyncio.wait_for(self.reader.readline(), 30)
        return json.loads(line)


SLOW_REPLIES = []  # (when, what): control requests that took over 30 s, or failed


async def busy_control_client(path, stop):
    added = 0
    control = None
    while not stop.is_set():
        try:
            if control is None:
                control = Control(path)
                await control.connect()
            await control.ask("status")
            await control.ask("show", name=target_name(random.randrange(TARGETS)), recent=10)
            if added % 10 == 0:
                name = f"runtime-{added}"
                await control.ask("add", target={"name": name, "url": "http://127.0.0.1:18080/"})
                if added:
                    await control.ask("remove", name=f"runtime-{added - 10}")
        except (asyncio.TimeoutError, ConnectionError, OSError) as error:
            SLOW_REPLIES.append((time.monotonic(), repr(error)))
            control = None
        added += 1
        await asyncio.sleep(0.2)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def slope_per_hour(points):
    """Least-squares slope of (minutes, value) points, in value per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return cov / var * 60 if var else 0.0


async def sample(socket_path, pid, previous):
    # A connection per sample: the daemon closes control connections idle for a minute.
    control = Control(socket_path)
    await control.connect()
    status = (await control.ask("status"))["result"]
    listed = (await control.ask("list"))["result"]["targets"]
    outcomes = {}
    nginx_age = 0.0
    wall = datetime.datetime.now(datetime.timezone.utc)
    for target in listed:
        outcome = target.get("outcome") or "none"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if target["name"].startswith("nginx-http") and target.get("checked"):
            checked = datetime.datetime.fromisoformat(target["checked"].replace("Z", "+00:00"))
            nginx_age = max(nginx_age, (wall - checked).total_seconds())
    control.writer.close()
    now = time.monotonic()
    fetches = status["totals"]["fetches"]
    rate = (fetches - previous[1]) / (now - previous[0]) if previous else 0.0
    return {
        "at": now,
        "fetches": fetches,
        "rate": rate,
        "rss_kib": rss_kib(pid),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "lateness_p99_ms": status["schedule_lateness_us"]["p99"] / 1000,
        "in_flight": status["in_flight"],
        "nginx_age_s": nginx_age,
        "outcomes": outcomes,
    }


async def soak():
    directory = tempfile.mkdtemp(prefix="fetchd-soak-")
    loop = asyncio.get_running_loop()
    servers = []
    for offset, handler in enumerate([silence, slow_drip, reset, endless_headers, huge_body]):
        servers.append(await asyncio.start_server(handler, "127.0.0.1", HOSTILE_BASE + offset,
                                                  backlog=4096))
    await loop.create_datagram_endpoint(Dns, local_addr=("127.0.0.1", DNS_PORT))
    config = write_config(directory)
    log = open(os.path.join(directory, "daemon.log"), "w")
    daemon = subprocess.Popen([os.path.join(BUILD, "fetchd"), "--config", config], stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        return await run_and_report(daemon, directory, servers)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)


async def run_and_report(daemon, directory, servers):
    socket_path = os.path.join(directory, "control.sock")
    for _ in range(300):
        if os.path.exists(socket_path):
            break
        await asyncio.sleep(0.1)
    stop = asyncio.Event()
    client = asyncio.create_task(busy_control_client(socket_path, stop))

    print(f"soak: {TARGETS} targets at {INTERVAL_MS} ms for {MINUTES:g} min, fetchd {BUILD}, "
          f"pid {daemon.pid}, files in {directory}")
    print(f"{'min':>5} {'RSS MiB':>8} {'fds':>5} {'late p99 ms':>11} {'fetches/s':>9} "
          f"{'in flight':>9} {'nginx age s':>11}  outcomes")
    samples, previous = [], None
    start = time.monotonic()
    end = start + MINUTES * 60
    while time.monotonic() < end and daemon.poll() is None:
        await asyncio.sleep(min(SAMPLE_SECONDS, max(0.0, end - time.monotonic())))
        if daemon.poll() is not None:
            break
        try:
            point = await sample(socket_path, daemon.pid, previous)
        except (asyncio.TimeoutError, ConnectionError, OSError) as error:
            SLOW_REPLIES.append((time.monotonic(), "sample: " + repr(error)))
            print(f"{(time.monotonic() - start) / 60:5.1f} sample failed: {error!r}", flush=True)
            continue
        previous = (point["at"], point["fetches"])
        point["minute"] = (point["at"] - start) / 60
        samples.append(point)
        outcomes = " ".join(f"{k}={v}" for k, v in sorted(point["outcomes"].items()))
        print(f"{point['minute']:5.1f} {point['rss_kib'] / 1024:8.1f} {point['fds']:5d} "
              f"{point['lateness_p99_ms']:11.1f} {point['rate']:9.0f} {point['in_flight']:9d} "
              f"{point['nginx_age_s']:11.1f}  {outcomes}", flush=True)

    stop.set()
    await asyncio.wait_for(client, 30)
    survived = daemon.poll() is None
    if survived:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
    for server in servers:
        server.close()

    warm = [p for p in samples if p["minute"] >= WARM_UP_MINUTES] or samples
    rss = [(p["minute"], p["rss_kib"]) for p in warm]
    fds = [(p["minute"], p["fds"]) for p in warm]
    mean_rss = sum(v for _, v in rss) / len(rss) if rss else 1
    mean_fds = sum(v for _, v in fds) / len(fds) if fds else 1
    rss_growth = slope_per_hour(rss) / mean_rss * 100
    fd_growth = slope_per_hour(fds) / mean_fds * 100
    worst_lateness = max((p["lateness_p99_ms"] for p in warm), default=0)
    rates = [p["rate"] for p in samples[1:]] or [0]
    with open(os.path.join(directory, "daemon.log"), errors="replace") as file:
        text = file.read()
    sanitizer = "ERROR: AddressSanitizer" in text or "runtime error:" in text
    print(f"soak: after warm-up (from minute {WARM_UP_MINUTES:.1f}): RSS {mean_rss / 1024:.1f} MiB, "
          f"slope {rss_growth:+.2f}%/h; fds {mean_fds:.0f}, slope {fd_growth:+.2f}%/h; lateness "
          f"p99 worst {worst_lateness:.1f} ms; fetches/s mean {sum(rates) / len(rates):.0f}; "
          f"control requests over 30 s or failed: {len(SLOW_REPLIES)}; "
          f"daemon {'survived' if survived else 'DIED'}; sanitizer reports: "
          f"{'YES' if sanitizer else 'none'}")
    goals = survived and not sanitizer and abs(rss_growth) < 1 and abs(fd_growth) < 1 \
        and worst_lateness < 10 and not SLOW_REPLIES
    print(f"soak: goals (RSS and fds flat within 1%/h, lateness p99 < 10 ms, no crash, no "
          f"sanitizer report): {'met' if goals else 'NOT met'}")
    return 0 if survived and not sanitizer else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(soak()))
