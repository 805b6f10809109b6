#!/usr/bin/python3
"""fetchd's alerts through a real Prometheus Alertmanager (Debian's prometheus-alertmanager).

usage: alertmanager_test.py FETCHD_BINARY

Starts, all on loopback: a target server whose answer the test switches between 200 and 503, a
webhook receiver recording what Alertmanager sends it, Alertmanager routing every alert to that
receiver, and fetchd with alerts.alertmanager pointing at it (resend_interval 1s). Then:
  - the target answers 503: it goes DOWN after down_after (2) failures, and the alert
    FetchdTargetDown is active in Alertmanager's API (/api/v2/alerts) with the target's name and
    labels, settings.instance_labels, alerts.alertmanager.labels, the failure in its description,
    and startsAt = the state's since; the receiver is called with it, firing;
  - the target answers 200 again: the alert resolves in Alertmanager and the receiver is called
    with it, resolved;
  - a restart of fetchd while the target is DOWN sends the same alert again (same startsAt), so
    Alertmanager sees no new alert;
  - DOWN again, then disabled by a reload: the alert resolves (nothing else would);
  - /metrics counts what was sent: fetchd_notifications_total{route="alertmanager",result="sent"},
    fetchd_notification_last_success_timestamp_seconds and fetchd_notifications_queued.
Python standard library only. Exit status: 0 pass, 1 fail, 77 skip (no alertmanager).
Every wait is a poll with a deadline.
"""

import http.server
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import urllib.request

from harness import Failure, log, free_port, wait_for, Process

SKIP = 77
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


class Switchable:
    """A target that answers `status` (200 or 503) on every path."""

    def __init__(self):
        self.status = 200
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = b"ok\n" if owner.status == 200 else b"down\n"
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/health" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """Alertmanager's webhook receiver: keeps every notification's JSON."""

    def __init__(self):
        self.notifications = []
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length))
                with owner.lock:
                    owner.notifications.append(payload)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def find(self, status, name):
        with self.lock:
            for notification in self.notifications:
                for alert in notification.get("alerts", []):
                    if alert["status"] == status and alert["labels"].get("name") == name:
                        return alert
        return None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def active_alerts(base):
    with urllib.request.urlopen(base + "/api/v2/alerts?active=true&silenced=false", timeout=5) as r:
        return json.loads(r.read())


def alert_named(base, name):
    for alert in active_alerts(base):
        if alert["labels"].get("alertname") == "FetchdTargetDown" and \
                alert["labels"].get("name") == name and alert["status"]["state"] == "active":
            return alert
    return None


def show(fetchd_socket, fetchctl, name):
    import subprocess
    out = subprocess.run([fetchctl, "--socket", fetchd_socket, "--json", "show", name],
                         capture_output=True, text=True, timeout=10).stdout
    return json.loads(out)["result"]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    fetchd, fetchctl = sys.argv[1], sys.argv[2]
    if not os.access(ALERTMANAGER, os.X_OK):
        log("skipped: %s is not installed" % ALERTMANAGER)
        return SKIP
    work = tempfile.mkdtemp(prefix="fetchd-alertmanager-")
    processes = []
    target = Switchable()
    receiver = Receiver()
    try:
        am_port = free_port()
        am = "http://127.0.0.1:%d" % am_port
        with open(os.path.join(work, "alertmanager.yml"), "w") as f:
            f.write("route:\n  receiver: hook\n  group_by: [alertname, name]\n"
                    "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n"
                    "receivers:\n- name: hook\n  webhook_configs:\n  - url: %s\n"
                    "    send_resolved: true\n" % receiver.url)
        alertmanager = Process("alertmanager", [
            ALERTMANAGER, "--config.file=" + os.path.join(work, "alertmanager.yml"),
            "--storage.path=" + os.path.join(work, "am-data"),
            "--web.listen-address=127.0.0.1:%d" % am_port,
            "--cluster.listen-address=",
        ], os.path.join(work, "alertmanager.log"))
        processes.append(alertmanager)
        wait_for("Alertmanager to be ready",
                 lambda: urllib.request.urlopen(am + "/-/ready", timeout=2).status == 200,
                 30, alive=[alertmanager])

        socket_path = os.path.join(work, "fetchd.sock")
        web = "127.0.0.1:%d" % free_port()
        config = {
            "settings": {"control_socket": socket_path, "state_dir": os.path.join(work, "state"),
                         "instance_labels": {"location": "lab"}, "web_listen": [web]},
            "defaults": {"interval": "200ms", "timeout": "2s"},
            "alerts": {"alertmanager": {"urls": [am], "resend_interval": "1s",
                                        "labels": {"severity": "page"}}},
            "targets": [{"name": "api", "url": target.url, "down_after": 2,
                         "labels": {"team": "core"}}],
        }
        with open(os.path.join(work, "fetchd.json"), "w") as f:
            json.dump(config, f)

        def start_fetchd():
            process = Process("fetchd", [fetchd, "--config", os.path.join(work, "fetchd.json")],
                              os.path.join(work, "fetchd-%d.log" % len(processes)))
            processes.append(process)
            wait_for("fetchd's control socket", lambda: os.path.exists(socket_path), 10,
                     alive=[process])
            return process

        daemon = start_fetchd()
        wait_for("api to be UP", lambda: show(socket_path, fetchctl, "api")["summary"]["state"] == "up",
                 10, alive=[daemon])
        if alert_named(am, "api"):
            raise Failure("an alert fired for a target that is UP")

        log("the target answers 503: DOWN, and the alert fires")
        target.status = 503
        alert = wait_for("FetchdTargetDown{name=api} active in Alertmanager",
                         lambda: alert_named(am, "api"), 15, alive=[daemon, alertmanager])
        labels = alert["labels"]
        expected = {"alertname": "FetchdTargetDown", "name": "api", "team": "core",
                    "location": "lab", "severity": "page"}
        for key, value in expected.items():
            if labels.get(key) != value:
                raise Failure("label %s=%r, expected %r: %r" % (key, labels.get(key), value, labels))
        annotations = alert["annotations"]
        if "503" not in annotations.get("description", "") or annotations.get("url") != target.url:
            raise Failure("annotations do not say why and where: %r" % annotations)
        since = show(socket_path, fetchctl, "api")["summary"]["state_since"]
        if alert["startsAt"][:19] != since[:19]:
            raise Failure("startsAt %s is not the state's since %s" % (alert["startsAt"], since))
        wait_for("the receiver to be called with the firing alert",
                 lambda: receiver.find("firing", "api"), 15, alive=[alertmanager])
        sample_prefix = 'fetchd_notifications_total{location="lab",route="alertmanager",url="%s/",' \
                        'result="sent"} ' % am

        def sent():
            with urllib.request.urlopen("http://%s/metrics" % web, timeout=5) as r:
                text = r.read().decode()
            for line in text.splitlines():
                if line.startswith(sample_prefix) and float(line.split()[-1]) > 0:
                    if "fetchd_notification_last_success_timestamp_seconds{" not in text or \
                            "\nfetchd_notifications_queued{location=\"lab\"} 1\n" not in text:
                        raise Failure("the other notification series are missing:\n" + text)
                    return True
            return False
        wait_for("/metrics to count the alerts sent", sent, 10, alive=[daemon])

        log("restart while DOWN: the same alert, not a new one")
        daemon.stop()
        daemon = start_fetchd()
        wait_for("the alert to be sent again by the new fetchd",
                 lambda: alert_named(am, "api") and "alertmanager: alerts go to" in daemon.output(),
                 15, alive=[daemon])
        again = alert_named(am, "api")
        if again["startsAt"] != alert["startsAt"] or again["fingerprint"] != alert["fingerprint"]:
            raise Failure("after the restart the alert changed: %r then %r" % (alert, again))
        if "api is DOWN" in daemon.output():
            raise Failure("the restarted fetchd logged the DOWN change again:\n" + daemon.output())

        log("the target answers 200 again: the alert resolves")
        target.status = 200
        wait_for("the alert to resolve in Alertmanager", lambda: alert_named(am, "api") is None, 15,
                 alive=[daemon, alertmanager])
        wait_for("the receiver to be called with the resolved alert",
                 lambda: receiver.find("resolved", "api"), 15, alive=[alertmanager])

        log("DOWN again, then disabled by a reload: the alert resolves")
        target.status = 503
        wait_for("the alert to fire again", lambda: alert_named(am, "api"), 15,
                 alive=[daemon, alertmanager])
        config["targets"][0]["enabled"] = False
        with open(os.path.join(work, "fetchd.json"), "w") as f:
            json.dump(config, f)
        daemon.popen.send_signal(signal.SIGHUP)
        wait_for("the disabled target's alert to resolve", lambda: alert_named(am, "api") is None,
                 15, alive=[daemon, alertmanager])
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
        target.close()
        receiver.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
