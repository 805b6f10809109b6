#!/usr/bin/python3
"""fetchd's webhooks and commands (alerts.webhooks, alerts.commands), end to end.

usage: notifications_test.py FETCHD_BINARY FETCHCTL_BINARY

Starts on loopback a target server whose answer per path the test switches (200 or 503), and a
webhook receiver with several behaviours, then fetchd with webhooks and commands routed by
labels. Checks:
  - a webhook with a Slack-style template gets the DOWN, then the UP, its body filled in and
    JSON-escaped, with an Idempotency-Key header; the default JSON document goes to another;
  - a receiver that fails the first 3 deliveries then accepts gets the notification exactly once
    (the same Idempotency-Key on each attempt);
  - a receiver that never answers and one that answers 50 MB are bounded (timeout, a read bound),
    retried, and the others are not held up;
  - a command gets FETCHD_* in its environment (and nothing else but PATH); one that never exits
    is killed (its process group) at its timeout;
  - a restart with a delivery pending (the receiver answering 503) delivers it after the restart,
    once; a restart while DOWN sends nothing new;
  - a silence suppresses the DOWN; unsilence lets it out;
  - 200 targets DOWN at once: each webhook gets one storm summary and no single notification,
    and every alert reaches a real Alertmanager (Debian's prometheus-alertmanager, if installed).
Python standard library only. Exit status: 0 pass, 1 fail. Every wait is a poll with a deadline.
"""

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from harness import Failure, log, free_port, wait_for, Process

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
SLEEPER_ARG = "987.654"  # a unique argument, to find a command that should have been killed


class Targets:
    """Answers 200 on every path but those the test set to 503."""

    def __init__(self):
        self.down = set()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                status = 503 if self.path in owner.down else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """Webhook endpoints: /ok accepts; /flaky fails its first 3 requests; /hang never answers;
    /huge answers 50 MB; /switch answers 503 while `refusing`. Keeps what each accepted."""

    def __init__(self):
        self.accepted = {}   # path -> [(idempotency key, body)]
        self.attempts = {}   # path -> [idempotency key]
        self.refusing = False
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key")
                with owner.lock:
                    attempts = owner.attempts.setdefault(self.path, [])
                    attempts.append(key)
                    count = len(attempts)
                if self.path == "/hang":
                    owner.stopping.wait(60)
                    return
                if self.path == "/huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(50 * 1024 * 1024))
                    self.end_headers()
                    chunk = b"x" * 65536
                    try:
                        for _ in range(800):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    return
                refuse = (self.path == "/flaky" and count <= 3) or \
                    (self.path == "/switch" and owner.refusing)
                if not refuse:
                    with owner.lock:
                        owner.accepted.setdefault(self.path, []).append((key, body))
                self.send_response(503 if refuse else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]

    def got(self, path):
        with self.lock:
            return list(self.accepted.get(path, []))

    def tried(self, path):
        with self.lock:
            return list(self.attempts.get(path, []))

    def close(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def documents(receiver, path):
    return [json.loads(body) for _, body in receiver.got(path)]


def fetchctl(fetchctl_binary, socket_path, *args):
    done = subprocess.run([fetchctl_binary, "--socket", socket_path, "--json"] + list(args),
                          capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise Failure("fetchctl %s failed (%d): %s%s" % (" ".join(args), done.returncode,
                                                       done.stdout, done.stderr))
    return json.loads(done.stdout)


class Daemon:
    def __init__(self, binary, work, config, processes):
        self.binary, self.work, self.config, self.processes = binary, work, config, processes
        self.socket = config["settings"]["control_socket"]
        self.process = None

    def start(self):
        with open(os.path.join(self.work, "fetchd.json"), "w") as f:
            json.dump(self.config, f)
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        self.process = Process("fetchd", [self.binary, "--config",
                                          os.path.join(self.work, "fetchd.json")],
                               os.path.join(self.work, "fetchd-%d.log" % len(self.processes)))
        self.processes.append(self.process)
        wait_for("fetchd's control socket", lambda: os.path.exists(self.socket), 10,
                 alive=[self.process])

    def stop(self):
        if self.process.stop() != 0:
            raise Failure("fetchd did not stop cleanly:\n" + self.process.output())

    def log(self):
        return self.process.output(tail=100000)


def sleeper_running():
    """Whether a `sleep SLEEPER_ARG` is left, read from /proc (procps may not be installed)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if SLEEPER_ARG.encode() in argv and any(arg.endswith(b"sleep") for arg in argv[:1]):
            return True
    return False


def delivery_checks(fetchd, fetchctl_binary, work, processes, targets, receiver):
    env_dir = os.path.join(work, "env")
    os.mkdir(env_dir)
    socket_path = os.path.join(work, "fetchd.sock")

    def target(name, group):
        return {"name": name, "url": targets.base + "/" + name, "labels": {"group": group}}

    def webhook(name, path, group, **extra):
        hook = {"name": name, "url": receiver.base + path, "timeout": "500ms",
                "match": {"labels": {"group": group}}}
        hook.update(extra)
        return hook

    config = {
        "settings": {"control_socket": socket_path, "state_dir": os.path.join(work, "state")},
        "defaults": {"interval": "200ms", "timeout": "2s"},
        "alerts": {
            "storm_threshold": 1000,
            "webhooks": [
                webhook("slack", "/ok", "a",
                        body='{"text": "{summary}", "name": "{name}", "team": "{labels.team}"}'),
                webhook("plain", "/plain", "a"),
                webhook("flaky", "/flaky", "b"),
                webhook("hang", "/hang", "c"),
                webhook("huge", "/huge", "c"),
                webhook("beside", "/beside", "c"),
                webhook("switch", "/switch", "d"),
                webhook("silenced", "/silenced", "e"),
            ],
            "commands": [
                # Written aside and renamed, so the test never reads a half-written file.
                {"name": "env", "argv": ["/bin/sh", "-c",
                                         'env > "$0/.$FETCHD_ID" && mv "$0/.$FETCHD_ID" "$0/$FETCHD_ID"',
                                         env_dir],
                 "match": {"names": ["cmd"]}},
                {"name": "sleeper", "argv": ["/bin/sleep", SLEEPER_ARG], "timeout": "300ms",
                 "match": {"names": ["cmd"]}},
            ],
        },
        "targets": [target("web", "a"), target("pay", "b"), target("slow", "c"),
                    target("sw", "d"), target("quiet", "e"), target("cmd", "f")],
    }
    config["targets"][0]["labels"]["team"] = 'core "ops"'
    # "/plain" is not served by the receiver's refusal rules: it accepts.
    daemon = Daemon(fetchd, work, config, processes)
    daemon.start()
    wait_for("every target to be UP", lambda: all(
        fetchctl(fetchctl_binary, socket_path, "show", t["name"])["result"]["summary"]["state"]
        == "up" for t in config["targets"]), 15, alive=[daemon.process])

    log("web DOWN: the Slack template and the default document")
    targets.down.add("/web")
    wait_for("the DOWN at /ok", lambda: receiver.got("/ok"), 15, alive=[daemon.process])
    wait_for("the DOWN at /plain", lambda: receiver.got("/plain"), 15, alive=[daemon.process])
    slack = documents(receiver, "/ok")[0]
    if not slack["text"].startswith("web is DOWN: ") or "503" not in slack["text"] or \
            slack["name"] != "web" or slack["team"] != 'core "ops"':
        raise Failure("the template was not filled in: %r" % slack)
    plain = documents(receiver, "/plain")[0]
    for key, value in {"version": 1, "kind": "change", "name": "web", "state": "DOWN",
                       "previous": "UP", "status": 503, "url": targets.base + "/web"}.items():
        if plain.get(key) != value:
            raise Failure("default document: %s=%r, expected %r: %r" % (key, plain.get(key),
                                                                        value, plain))
    key, _ = receiver.got("/ok")[0]
    if not key or len(key) != 32:
        raise Failure("no Idempotency-Key header: %r" % key)
    targets.down.discard("/web")
    wait_for("the UP at /ok", lambda: len(receiver.got("/ok")) == 2, 15, alive=[daemon.process])
    up = documents(receiver, "/ok")[1]
    if not up["text"].startswith("web is UP again"):
        raise Failure("the recovery was not told: %r" % up)

    log("pay DOWN: a receiver failing 3 times gets it once")
    targets.down.add("/pay")
    wait_for("the DOWN at /flaky after 3 failures", lambda: receiver.got("/flaky"), 30,
             alive=[daemon.process])
    tried = receiver.tried("/flaky")
    if len(tried) != 4 or len(set(tried)) != 1:
        raise Failure("expected 4 attempts with one Idempotency-Key, got %r" % tried)
    if "webhook:flaky cannot deliver" not in daemon.log() or \
            "webhook:flaky delivers again" not in daemon.log():
        raise Failure("the failing route was not logged once and its recovery:\n" + daemon.log())
    if daemon.log().count("webhook:flaky cannot deliver") != 1:
        raise Failure("the failing route was logged per retry:\n" + daemon.log())

    log("slow DOWN: a hanging and a 50 MB receiver are bounded, the one beside them is not held")
    began = time.monotonic()
    targets.down.add("/slow")
    wait_for("the DOWN at /beside", lambda: receiver.got("/beside"), 10, alive=[daemon.process])
    if time.monotonic() - began > 6:
        raise Failure("the webhook beside a hanging one was held up")
    wait_for("/hang to be tried again after its timeout", lambda: len(receiver.tried("/hang")) >= 2,
             15, alive=[daemon.process])
    wait_for("/huge to be tried", lambda: receiver.tried("/huge"), 10, alive=[daemon.process])
    status = fetchctl(fetchctl_binary, socket_path, "status")["result"]
    if status["notifications"]["queued"] < 1 or not any(
            route["route"] == "webhook:hang" and route["failed"] >= 1
            for route in status["notifications"]["routes"]):
        raise Failure("the hanging route's notification is not counted as queued: %r" % status)

    log("cmd DOWN: the command's environment; the one that never exits is killed")
    targets.down.add("/cmd")
    def written():
        return [name for name in os.listdir(env_dir) if not name.startswith(".")]
    wait_for("the command to write its environment", written, 15, alive=[daemon.process])
    with open(os.path.join(env_dir, written()[0])) as f:
        env = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    for key, value in {"FETCHD_NAME": "cmd", "FETCHD_STATE": "DOWN", "FETCHD_PREVIOUS": "UP",
                       "FETCHD_URL": targets.base + "/cmd", "FETCHD_LABEL_GROUP": "f",
                       "FETCHD_STATUS": "503"}.items():
        if env.get(key) != value:
            raise Failure("command environment: %s=%r, expected %r: %r" % (key, env.get(key),
                                                                          value, env))
    if "HOME" in env or "FETCHD_REASON" not in env or "FETCHD_SINCE" not in env:
        raise Failure("the command's environment is not exactly fetchd's: %r" % env)
    wait_for("the sleeping command to be killed at its timeout",
             lambda: "command:sleeper cannot deliver: timed out" in daemon.log(), 10,
             alive=[daemon.process])
    wait_for("no sleeping command left", lambda: not sleeper_running(), 5)

    log("sw DOWN while its receiver refuses; restart; delivered once after it")
    receiver.refusing = True
    targets.down.add("/sw")
    wait_for("a refused attempt at /switch", lambda: receiver.tried("/switch"), 15,
             alive=[daemon.process])
    daemon.stop()
    receiver.refusing = False
    accepted_before = {path: len(receiver.got(path)) for path in ("/ok", "/plain", "/flaky")}
    daemon.start()
    wait_for("the pending DOWN delivered after the restart", lambda: receiver.got("/switch"), 20,
             alive=[daemon.process])
    keys = {key for key, _ in receiver.got("/switch")}
    if len(receiver.got("/switch")) != 1 or keys != {receiver.tried("/switch")[0]}:
        raise Failure("the pending notification was not delivered once with its key: %r"
                      % receiver.got("/switch"))

    log("quiet silenced, then DOWN: nothing; unsilenced: told")
    silence = fetchctl(fetchctl_binary, socket_path, "silence", "quiet", "--for", "1h",
                       "--comment", "maintenance")["result"]
    targets.down.add("/quiet")
    wait_for("quiet to be DOWN", lambda: fetchctl(fetchctl_binary, socket_path, "show", "quiet")
             ["result"]["summary"]["state"] == "down", 10, alive=[daemon.process])
    # A restart in between: still DOWN, told nothing new anywhere.
    daemon.stop()
    daemon.start()
    wait_for("fetchd to be running again", lambda: fetchctl(
        fetchctl_binary, socket_path, "show", "quiet")["result"]["summary"]["state"] == "down", 10,
        alive=[daemon.process])
    deadline = time.monotonic() + 4  # twice the hold: a notification would be out by then
    while time.monotonic() < deadline:
        if receiver.got("/silenced"):
            raise Failure("a silenced target was notified: %r" % receiver.got("/silenced"))
        after = {path: len(receiver.got(path)) for path in accepted_before}
        if after != accepted_before:
            raise Failure("the restart notified again: %r then %r" % (accepted_before, after))
        time.sleep(0.1)
    silence_id = silence.get("id", silence.get("silence", {}).get("id"))
    fetchctl(fetchctl_binary, socket_path, "unsilence", str(silence_id))
    wait_for("the DOWN at /silenced once the silence is lifted", lambda: receiver.got("/silenced"),
             10, alive=[daemon.process])
    daemon.stop()


def storm_checks(fetchd, work, processes, receiver):
    am = None
    if os.access(ALERTMANAGER, os.X_OK):
        am_port = free_port()
        am = "http://127.0.0.1:%d" % am_port
        with open(os.path.join(work, "alertmanager.yml"), "w") as f:
            f.write("route:\n  receiver: none\nreceivers:\n- name: none\n")
        alertmanager = Process("alertmanager", [
            ALERTMANAGER, "--config.file=" + os.path.join(work, "alertmanager.yml"),
            "--storage.path=" + os.path.join(work, "am-data"),
            "--web.listen-address=127.0.0.1:%d" % am_port, "--cluster.listen-address=",
        ], os.path.join(work, "alertmanager.log"))
        processes.append(alertmanager)
        wait_for("Alertmanager to be ready",
                 lambda: urllib.request.urlopen(am + "/-/ready", timeout=2).status == 200,
                 30, alive=[alertmanager])
    else:
        log("no %s: the storm is checked without it" % ALERTMANAGER)
    refused = "http://127.0.0.1:%d/" % free_port()  # nothing listens: every fetch fails
    config = {
        "settings": {"control_socket": os.path.join(work, "storm.sock"),
                     "state_dir": os.path.join(work, "storm-state")},
        "defaults": {"interval": "1s", "timeout": "1s"},
        "alerts": {"webhooks": [{"name": "one", "url": receiver.base + "/storm1"},
                                {"name": "two", "url": receiver.base + "/storm2"}]},
        "targets": [{"name": "t%03d" % i, "url": refused} for i in range(200)],
    }
    if am:
        config["alerts"]["alertmanager"] = {"urls": [am]}
    daemon = Daemon(fetchd, work, config, processes)
    daemon.start()
    for path in ("/storm1", "/storm2"):
        wait_for("the storm summary at " + path, lambda p=path: receiver.got(p), 15,
                 alive=[daemon.process])
    if am:
        def alerts_in_am():
            with urllib.request.urlopen(am + "/api/v2/alerts?active=true", timeout=5) as r:
                return len(json.loads(r.read())) == 200
        wait_for("all 200 alerts in Alertmanager", alerts_in_am, 20, alive=[daemon.process])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.1)
    for path in ("/storm1", "/storm2"):
        got = documents(receiver, path)
        if len(got) != 1 or got[0]["kind"] != "storm" or got[0]["changes"] != 200 or \
                got[0]["down"] != 200 or len(got[0]["targets"]) != 100:
            raise Failure("expected one storm summary of 200 changes at %s, got %r"
                          % (path, [(d.get("kind"), d.get("summary")) for d in got]))
    daemon.stop()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    fetchd, fetchctl_binary = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="fetchd-notifications-")
    processes = []
    targets = Targets()
    receiver = Receiver()
    try:
        delivery_checks(fetchd, fetchctl_binary, work, processes, targets, receiver)
        storm_checks(fetchd, work, processes, receiver)
        log("pass")
        return 0
    except Failure as failure:
        log("FAIL: %s" % failure)
        for process in processes:
            log("--- %s's output:\n%s" % (process.name, process.output()))
        return 1
    finally:
        for process in reversed(processes):
            process.stop()
        targets.close()
        receiver.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
