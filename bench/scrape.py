#!/usr/bin/python3
"""Scrape benchmark: /metrics of 10,000 and 100,000 targets while fetchd fetches 5,000 per second.

For each size in SCRAPE_TARGETS (default "10000,100000"), the real fetchd runs that many targets
against the anchors' loopback nginx (http 18080) at the interval that makes 5,000 fetches/s
(SCRAPE_RATE), until every target has a result. Then, for plain text and for gzip, SCRAPES
(default 5) scrapes one after another, each measured: time to the first byte and to the last,
bytes on the wire, the daemon's CPU for the scrape and the longest the loop spent on one of its
pieces (the daemon measures both on its own thread: fetchd_last_scrape_cpu_seconds and
fetchd_last_scrape_longest_piece_seconds, read from the next scrape), its RSS peak during the
scrape, and fetchd_loop_lag_seconds (how late a 100 ms timer fired, the most over 10 s: the
piece, plus whatever else held the loop or the CPU — on 2 cores the Python client reading 100+ MB
competes with the daemon and nginx).
Then schedule lateness p99 (status, over the last minute) for a minute without scrapes and for a
minute with a gzip scrape every 5 s (read and thrown away, not decompressed: see
scrape_discarding). For scale, the same measures for one probe of blackbox_exporter
(/probe, module http_get_nginx of the anchors) when it is installed.
SCRAPE_HISTOGRAM=off runs without the latency histogram (settings.metrics_buckets []).
Goals (issue 11): 100,000 targets scraped in under 1 s of daemon CPU, loop stall under 10 ms,
lateness p99 unchanged during scrapes. Everything on 127.0.0.1; every wait is bounded.
"""

import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build/release"))
ANCHORS = os.environ.get("ANCHORS", os.path.join(ROOT, "..", "shared", "anchors"))
SIZES = [int(n) for n in os.environ.get("SCRAPE_TARGETS", "10000,100000").split(",")]
RATE = float(os.environ.get("SCRAPE_RATE", "5000"))
SCRAPES = int(os.environ.get("SCRAPES", "5"))
LATENESS_WINDOW_S = float(os.environ.get("LATENESS_WINDOW_S", "60"))
# SCRAPE_HISTOGRAM=off: settings.metrics_buckets [] (no fetchd_target_duration_seconds).
HISTOGRAM = os.environ.get("SCRAPE_HISTOGRAM", "on") != "off"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / (1 << 20)


class RssPeak(threading.Thread):
    """Samples a process' RSS every 20 ms until stopped; keeps the largest."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self.stop.wait(0.02)


def scrape(port, path, use_gzip, pid=None):
    """One GET; returns (ttfb_s, total_s, wire_bytes, body_bytes, body, cpu_s, rss_peak_mib)."""
    peak = RssPeak(pid) if pid else None
    if peak:
        peak.start()
    cpu_before = cpu_seconds(pid) if pid else 0
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Accept-Encoding": "gzip"} if use_gzip else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    first = response.read(1)
    ttfb = time.monotonic() - started
    wire = first + response.read()
    total = time.monotonic() - started
    cpu = (cpu_seconds(pid) - cpu_before) if pid else 0
    connection.close()
    if peak:
        peak.stop.set()
        peak.join()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    body = gzip.decompress(wire) if response.getheader("Content-Encoding") == "gzip" else wire
    return ttfb, total, len(wire), len(body), body, cpu, peak.peak if peak else 0


def gauge(body, name):
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def loop_lag(body):
    return gauge(body, "fetchd_loop_lag_seconds")


def status(fetchctl, socket_path):
    out = subprocess.run([fetchctl, "--socket", socket_path, "--json", "status"], capture_output=True,
                         text=True, timeout=60)
    return json.loads(out.stdout)["result"]


def wait(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def bench_fetchd(targets, work):
    port = free_port()
    socket_path = os.path.join(work, "control.sock")
    interval_ms = max(1000, int(targets / RATE * 1000))
    config = {
        "settings": {"control_socket": socket_path, "state_dir": os.path.join(work, "state"),
                     "web_listen": [f"127.0.0.1:{port}"], "max_in_flight": 4000,
                     "history_length": 10,
                     **({} if HISTOGRAM else {"metrics_buckets": []})},
        "defaults": {"interval": f"{interval_ms}ms", "timeout": "5s"},
        "targets": [{"name": f"t{i:06d}", "url": "http://127.0.0.1:18080/",
                     "labels": {"group": f"g{i % 10}"}} for i in range(targets)],
    }
    path = os.path.join(work, "fetchd.json")
    with open(path, "w") as f:
        json.dump(config, f)
    log = open(os.path.join(work, "fetchd.log"), "w")
    daemon = subprocess.Popen([os.path.join(BUILD, "fetchd"), "--config", path], stdout=log,
                              stderr=subprocess.STDOUT)
    fetchctl = os.path.join(BUILD, "fetchctl")
    try:
        wait("the control socket", lambda: os.path.exists(socket_path), 60)
        wait("every target's first result",
             lambda: status(fetchctl, socket_path)["targets"]["unknown"] == 0,
             interval_ms / 1000 + 120)
        print(f"\nfetchd, {targets} targets at {interval_ms} ms "
              f"({targets * 1000 / interval_ms:.0f} fetches/s), histogram "
              f"{'on' if HISTOGRAM else 'off'}, one label of 10 values")
        print(f"  {'format':6} {'ttfb ms':>8} {'last ms':>8} {'wire MB':>8} {'body MB':>8} "
              f"{'cpu s':>6} {'piece ms':>8} {'RSS MiB':>8} {'lag ms':>7}")
        for use_gzip in (False, True):
            for _ in range(SCRAPES):
                ttfb, total, wire, body_bytes, _, _, peak = scrape(port, "/metrics", use_gzip,
                                                                   daemon.pid)
                after = scrape_small(port)
                print(f"  {'gzip' if use_gzip else 'plain':6} {ttfb * 1000:8.1f} {total * 1000:8.0f} "
                      f"{wire / 1e6:8.1f} {body_bytes / 1e6:8.1f} "
                      f"{gauge(after, 'fetchd_last_scrape_cpu_seconds'):6.2f} "
                      f"{gauge(after, 'fetchd_last_scrape_longest_piece_seconds') * 1000:8.2f} "
                      f"{peak:8.0f} {loop_lag(after) * 1000:7.1f}")
        # Lateness: a minute without scrapes, then a minute with one every 5 s.
        time.sleep(LATENESS_WINDOW_S)
        quiet = status(fetchctl, socket_path)["schedule_lateness_us"]
        end = time.monotonic() + LATENESS_WINDOW_S
        worst_piece = 0.0
        while time.monotonic() < end:
            scrape_discarding(port)
            after = scrape_small(port)
            worst_piece = max(worst_piece, gauge(after, "fetchd_last_scrape_longest_piece_seconds"))
            time.sleep(5)
        busy = status(fetchctl, socket_path)["schedule_lateness_us"]
        print(f"  lateness p99 without scrapes {quiet['p99'] / 1000:.1f} ms, with a gzip scrape "
              f"every 5 s {busy['p99'] / 1000:.1f} ms (max {quiet['max'] / 1000:.1f} / "
              f"{busy['max'] / 1000:.1f} ms); longest piece {worst_piece * 1000:.2f} ms")
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()


def scrape_discarding(port):
    """One gzip scrape read and thrown away: decompressing 245 MB in Python would take a core of
    the two from the daemon and nginx, and the lateness measured would be the machine's."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    response = connection.getresponse()
    while response.read(1 << 20):
        pass
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET /metrics: {response.status}")


def scrape_small(port):
    """fetchd_loop_lag_seconds alone, cheaply: the daemon-wide families come first."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    head = response.read(64 * 1024)
    connection.close()
    return head


def bench_blackbox(work):
    exporter = shutil.which("prometheus-blackbox-exporter")
    if exporter is None:
        print("\nblackbox_exporter: not installed (apt-get install prometheus-blackbox-exporter)")
        return
    port = free_port()
    daemon = subprocess.Popen([exporter, f"--config.file={os.path.join(ANCHORS, 'blackbox.yml')}",
                               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        path = "/probe?module=http_get_nginx&target=http://127.0.0.1:18080/"
        wait("blackbox_exporter", lambda: _answers(port), 30)
        print("\nblackbox_exporter, one probe per scrape (/probe of nginx)")
        print(f"  {'format':6} {'ttfb ms':>8} {'last ms':>8} {'wire kB':>8} {'cpu ms':>7}")
        for use_gzip in (False, True):
            for _ in range(SCRAPES):
                ttfb, total, wire, _, _, cpu, _ = scrape(port, path, use_gzip, daemon.pid)
                print(f"  {'gzip' if use_gzip else 'plain':6} {ttfb * 1000:8.1f} {total * 1000:8.1f} "
                      f"{wire / 1e3:8.1f} {cpu * 1000:7.0f}")
    finally:
        daemon.terminate()
        daemon.wait(10)


def _answers(port):
    try:
        scrape(port, "/metrics", False)
        return True
    except (OSError, RuntimeError):
        return False


def main():
    print(f"scrape bench: {os.cpu_count()} cores, load {open('/proc/loadavg').read().strip()}")
    work = tempfile.mkdtemp(prefix="fetchd-scrape-")
    try:
        for targets in SIZES:
            bench_fetchd(targets, work)
        bench_blackbox(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
