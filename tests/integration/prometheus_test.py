#!/usr/bin/python3
"""fetchd's /metrics against the real tools: promtool's linter and a real Prometheus scraping it.

usage: prometheus_test.py FETCHD_BINARY FETCHCTL_BINARY

Starts a tiny HTTP server, fetchd with `web_listen` on an ephemeral loopback port (targets "web" up,
"down" on a closed port, and "gone" added at runtime through fetchctl), then
  - scrapes /metrics as text 0.0.4, as OpenMetrics 1.0.0 (Prometheus' Accept header) and gzip'ed,
    and lints each with `promtool check metrics`; every series carries settings.instance_labels;
  - runs Prometheus against it and waits for up, probe_success{name="web"} and
    fetchd_target_up{name="down"} through its HTTP API;
  - removes "gone" with fetchctl and waits for Prometheus to mark its series stale;
and all that behind settings.web_auth_file: Prometheus scrapes with basic auth from a password
file, requests without the right credentials get 401, and a reload withdraws a password.
Python standard library only. Exit status: 0 pass, 1 fail, 77 skip (no prometheus or promtool).
Every wait is a poll with a deadline.
"""

import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

SKIP = 77
PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


from harness import Failure, log, free_port, wait_for, TinyServer, Process


def http_get(url, headers=None, timeout=5):
    """(status, headers, body bytes); an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# --- the exposition formats ----------------------------------------------------------------------

SAMPLE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?")
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,)?')


def unescape(value):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_sample(line):
    """(name, {label: value}, rest of the line after the labels) of one sample line."""
    match = SAMPLE_RE.match(line)
    if not match:
        raise Failure("not a sample line: %r" % line)
    name, at, labels = match.group(1), match.end(), {}
    if match.group(2):
        while True:
            if line[at:].lstrip().startswith("}"):
                at = line.index("}", at) + 1
                break
            label = LABEL_RE.match(line, at)
            if not label:
                raise Failure("bad labels in %r" % line)
            labels[label.group(1)] = unescape(label.group(2))
            at = label.end()
            if not label.group(3):
                if not line[at:].lstrip().startswith("}"):
                    raise Failure("bad labels in %r" % line)
                at = line.index("}", at) + 1
                break
    return name, labels, line[at:].strip()


def samples(text):
    """[(name, labels, value float)] of every sample line of a text or OpenMetrics body."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, labels, rest = parse_sample(line)
        value = rest.split()[0]
        out.append((name, labels, float(value)))
    return out


def find_samples(text, metric, **labels):
    return [(n, l, v) for n, l, v in samples(text)
            if n == metric and all(l.get(k) == want for k, want in labels.items())]


def openmetrics_problems(text):
    """What the OpenMetrics 1.0.0 rules this test checks find wrong with the body (empty: none)."""
    problems = []
    if not text.endswith("# EOF\n"):
        problems.append("does not end with '# EOF\\n'")
    lines = text.split("\n")[:-1]
    if "# EOF" in lines[:-1]:
        problems.append("'# EOF' before the end")
    families, current, kind = set(), None, None
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",), "info": ("_info",),
                "stateset": ("",), "unknown": ("",), "histogram": ("_bucket", "_count", "_sum",
                                                                    "_created"),
                "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
                "summary": ("", "_count", "_sum", "_created")}
    for number, line in enumerate(lines, 1):
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in suffixes:
                problems.append("line %d: bad TYPE line %r" % (number, line))
                continue
            if parts[2] in families:
                problems.append("line %d: family %s declared twice (interleaved)" % (number, parts[2]))
            families.add(parts[2])
            current, kind = parts[2], parts[3]
        elif line.startswith("#") or line == "":
            if line == "":
                problems.append("line %d: empty line" % number)
        else:
            name, _, _ = parse_sample(line)
            if current is None or name not in [current + s for s in suffixes[kind]]:
                problems.append("line %d: sample %s outside its family (current: %s %s)"
                                % (number, name, kind, current))
    return problems


def openmetrics_as_text(text):
    """The OpenMetrics body rewritten in text format 0.0.4, for promtool (which in Prometheus 2.42
    parses only 0.0.4): counter families get their _total name, info families become gauges named
    *_info, _created samples, UNIT and EOF lines and exemplars are dropped, timestamps become ms."""
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
    renames = {"counter": ("_total", "counter"), "info": ("_info", "gauge"),
               "stateset": ("", "gauge"), "unknown": ("", "untyped"),
               "gaugehistogram": ("", "histogram")}
    out = []
    for line in text.splitlines():
        if line.startswith("# TYPE ") or line.startswith("# HELP "):
            _, keyword, name, rest = (line.split(" ", 3) + [""])[:4]
            suffix, kind = renames.get(types.get(name), ("", None))
            if keyword == "TYPE":
                rest = kind or rest
            out.append("# %s %s%s %s" % (keyword, name, suffix, rest))
        elif line.startswith("#"):
            continue  # UNIT, EOF
        elif line.strip():
            name, labels, rest = parse_sample(line)
            if name.endswith("_created") and types.get(name[:-len("_created")]) in (
                    "counter", "histogram", "summary"):
                continue
            fields = rest.split(" # ")[0].split()
            label_text = ",".join('%s="%s"' % (k, v.replace("\\", "\\\\").replace("\n", "\\n")
                                               .replace('"', '\\"')) for k, v in labels.items())
            sample = name + ("{%s}" % label_text if labels else "") + " " + fields[0]
            if len(fields) > 1:
                sample += " %d" % round(float(fields[1]) * 1000)
            out.append(sample)
    return "\n".join(out) + "\n"


def promtool_check(path):
    """Runs `promtool check metrics < path`; fails on a nonzero exit, printing what it said."""
    with open(path, "rb") as f:
        run = subprocess.run(["promtool", "check", "metrics"], stdin=f, capture_output=True,
                             timeout=60)
    said = (run.stdout + run.stderr).decode(errors="replace").strip()
    log("  promtool check metrics < %s: exit %d%s" % (os.path.basename(path), run.returncode,
                                                       (":\n" + said) if said else ""))
    if run.returncode != 0:
        raise Failure("promtool check metrics failed on %s (exit %d):\n%s"
                      % (path, run.returncode, said))


# --- Prometheus ----------------------------------------------------------------------------------

def write_prometheus_config(path, target, password_file):
    with open(path, "w") as f:
        f.write("global:\n"
                "  scrape_interval: 1s\n"
                "  scrape_timeout: 1s\n"
                "  evaluation_interval: 1s\n"
                "scrape_configs:\n"
                "  - job_name: fetchd\n"
                "    basic_auth:\n"
                "      username: prometheus\n"
                "      password_file: %s\n"
                "    static_configs:\n"
                "      - targets: [\"%s\"]\n" % (password_file, target))


def start_prometheus(tmp, target):
    """Prometheus on an ephemeral loopback port scraping `target` with the basic-auth credentials;
    returns (Process, base URL)."""
    config = os.path.join(tmp, "prometheus.yml")
    password_file = os.path.join(tmp, "prometheus-password")
    with open(password_file, "w") as f:
        f.write(PASSWORD)
    write_prometheus_config(config, target, password_file)
    check = subprocess.run(["promtool", "check", "config", config], capture_output=True,
                           timeout=60)
    if check.returncode != 0:
        raise Failure("promtool check config failed:\n%s" % (check.stdout + check.stderr).decode())
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    process = Process("prometheus", [
        "prometheus", "--config.file=" + config,
        "--storage.tsdb.path=" + os.path.join(tmp, "data"),
        "--web.listen-address=127.0.0.1:%d" % port,
        "--web.console.templates=" + os.path.join(tmp, "consoles"),
        "--web.console.libraries=" + os.path.join(tmp, "console_libraries"),
    ], os.path.join(tmp, "prometheus.log"), cwd=tmp)
    wait_for("Prometheus' /-/ready", lambda: http_get(base + "/-/ready")[0] == 200, 30,
             alive=[process])
    log("Prometheus is ready at " + base)
    return process, base


def query(base, expression):
    """The result list of an instant query; raises Failure on an API error."""
    status, _, body = http_get(base + "/api/v1/query?" + urllib.parse.urlencode(
        {"query": expression}))
    reply = json.loads(body)
    if status != 200 or reply.get("status") != "success":
        raise Failure("query %s: HTTP %d %s" % (expression, status, body[:300]))
    return reply["data"]["result"]


def wait_for_query(base, expression, timeout, alive, empty=False):
    log("waiting for Prometheus: %s %s" % (expression, "to be empty" if empty else ""))
    if empty:
        wait_for("%s to return nothing" % expression, lambda: query(base, expression) == [],
                 timeout, poll=0.25, alive=alive)
        log("  ok: empty")
    else:
        result = wait_for(expression, lambda: query(base, expression), timeout, poll=0.25,
                          alive=alive)
        log("  ok: %s" % json.dumps(result))


def scrape_target_health(base):
    """[(scrapeUrl, health, lastError)] of Prometheus' active targets."""
    _, _, body = http_get(base + "/api/v1/targets?state=active")
    return [(t.get("scrapeUrl"), t.get("health"), t.get("lastError"))
            for t in json.loads(body)["data"]["activeTargets"]]


# --- credentials (settings.web_auth_file) --------------------------------------------------------

PASSWORD = "s3cret: with spaces"
TOKEN = "fetchd-test.token_1"
BASIC = {"Authorization": "Basic " + base64.b64encode(("prometheus:" + PASSWORD).encode()).decode()}
BEARER = {"Authorization": "Bearer " + TOKEN}


def write_auth_file(path, credentials):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(credentials, f)


def check_credentials(base, alive):
    """/metrics and / answer 401 with a challenge unless the credentials are right; the health and
    readiness paths need none."""
    wrong = {"Authorization": "Basic " + base64.b64encode(b"prometheus:wrong").decode()}
    for headers, expected in (({}, 401), (wrong, 401), ({"Authorization": "Bearer nope"}, 401),
                              (BASIC, 200), (BEARER, 200)):
        for path in ("/metrics", "/"):
            status, answer, _ = http_get(base + path, headers)
            shown = headers.get("Authorization", "no Authorization")
            if status != expected:
                raise Failure("GET %s with %s: HTTP %d, expected %d" % (path, shown, status,
                                                                        expected))
            if status == 401:
                challenges = answer.get_all("WWW-Authenticate") or []
                if not any(c.startswith("Basic realm=") for c in challenges) or \
                        not any(c.startswith("Bearer realm=") for c in challenges):
                    raise Failure("a 401 without both challenges: %s" % challenges)
    for path in ("/-/healthy", "/-/ready"):
        status, _, _ = http_get(base + path)
        if status != 200:
            raise Failure("GET %s without credentials: HTTP %d" % (path, status))
    log("  ok: 401 with Basic and Bearer challenges without the right credentials, 200 with "
        "either; health and readiness open")


def check_reloaded_credentials(fetchctl, socket_path, auth_path, base, alive):
    """A reload reads the auth file again: the withdrawn password stops working."""
    write_auth_file(auth_path, {"bearer_tokens": [TOKEN]})
    code, out, err = run_fetchctl(fetchctl, socket_path, "reload")
    log("fetchctl reload: exit %d %s%s" % (code, out.strip(), err.strip()))
    if code != 0:
        raise Failure("fetchctl reload failed (exit %d): %s%s" % (code, out, err))
    wait_for("the withdrawn password to get 401",
             lambda: http_get(base + "/metrics", BASIC)[0] == 401, 10, alive=alive)
    status = http_get(base + "/metrics", BEARER)[0]
    if status != 200:
        raise Failure("the token kept across the reload: HTTP %d" % status)
    log("  ok: after the reload the password gets 401, the token 200")


# --- the test ------------------------------------------------------------------------------------

def run_fetchctl(fetchctl, socket_path, *args, timeout=15):
    argv = [fetchctl, "--socket", socket_path] + list(args)
    run = subprocess.run(argv, capture_output=True, timeout=timeout)
    return run.returncode, run.stdout.decode(errors="replace"), run.stderr.decode(errors="replace")


def check_metrics_endpoint(tmp, metrics_url, credentials, alive):
    # 1. Text format 0.0.4, asked for plainly; polled until "web" has a result.
    def web_up():
        status, headers, body = http_get(metrics_url, dict(credentials, Accept="text/plain"))
        if status != 200:
            raise Failure("GET /metrics: HTTP %d" % status)
        text = body.decode()
        found = find_samples(text, "probe_success", name="web")
        return (headers, text, found) if found and found[0][2] == 1 else None

    log("scraping /metrics (Accept: text/plain) until probe_success{name=\"web\"} is 1")
    headers, text, found = wait_for('probe_success{name="web"} 1 in /metrics', web_up, 20,
                                    alive=alive)
    content_type = headers.get("Content-Type", "")
    log("  Content-Type: " + content_type)
    if not content_type.startswith("text/plain") or "version=0.0.4" not in content_type:
        raise Failure("Accept: text/plain answered with Content-Type %r" % content_type)
    name, labels, value = found[0]
    if labels.get("team") != "core" or value != 1:
        raise Failure('expected probe_success{name="web",team="core"} 1, found %s%s %g'
                      % (name, labels, value))
    log("  ok: probe_success%s %g" % (json.dumps(labels, sort_keys=True), value))
    unlabelled = sorted({n for n, l, _ in samples(text) if l.get("fleet") != "test"})
    if unlabelled:
        raise Failure('settings.instance_labels {"fleet": "test"} missing from: %s'
                      % ", ".join(unlabelled))
    log('  ok: every series has fleet="test" (settings.instance_labels)')
    plain = os.path.join(tmp, "metrics.txt")
    with open(plain, "w") as f:
        f.write(text)
    promtool_check(plain)

    # 2. OpenMetrics 1.0.0, with Prometheus' own Accept header.
    log("scraping /metrics with Accept: " + PROMETHEUS_ACCEPT)
    status, headers, body = http_get(metrics_url, dict(credentials, Accept=PROMETHEUS_ACCEPT))
    if status != 200:
        raise Failure("GET /metrics (OpenMetrics): HTTP %d" % status)
    content_type = headers.get("Content-Type", "")
    log("  Content-Type: " + content_type)
    if not content_type.startswith("application/openmetrics-text") or \
            "version=1.0.0" not in content_type:
        raise Failure("Prometheus' Accept header answered with Content-Type %r" % content_type)
    om_text = body.decode()
    om = os.path.join(tmp, "metrics.om.txt")
    with open(om, "w") as f:
        f.write(om_text)
    problems = openmetrics_problems(om_text)
    if problems:
        raise Failure("the OpenMetrics body (%s) breaks the format:\n  %s"
                      % (om, "\n  ".join(problems[:20])))
    log("  ok: ends with # EOF, every sample inside its family")
    if not find_samples(om_text, "probe_success", name="web", team="core"):
        raise Failure('no probe_success{name="web",team="core"} in the OpenMetrics body')
    # promtool 2.42 parses text 0.0.4 only (an OpenMetrics counter family reads to it as a family
    # without samples): lint the same families rewritten as 0.0.4. Prometheus' own OpenMetrics
    # parser reads the original below, when it scrapes.
    converted = os.path.join(tmp, "metrics.om-as-text.txt")
    with open(converted, "w") as f:
        f.write(openmetrics_as_text(om_text))
    promtool_check(converted)

    # 3. gzip.
    log("scraping /metrics with Accept-Encoding: gzip")
    status, headers, body = http_get(metrics_url, dict(credentials, **{
        "Accept": "text/plain", "Accept-Encoding": "gzip"}))
    if status != 200 or headers.get("Content-Encoding", "") != "gzip":
        raise Failure("Accept-Encoding: gzip: HTTP %d, Content-Encoding %r"
                      % (status, headers.get("Content-Encoding")))
    try:
        unzipped = gzip.decompress(body).decode()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise Failure("the gzip'ed /metrics does not decompress: %s" % error)
    zipped = os.path.join(tmp, "metrics.gunzipped.txt")
    with open(zipped, "w") as f:
        f.write(unzipped)
    log("  ok: Content-Encoding: gzip, %d bytes -> %d" % (len(body), len(unzipped)))
    promtool_check(zipped)
    if not find_samples(unzipped, "probe_success", name="web", team="core"):
        raise Failure('no probe_success{name="web",team="core"} in the gunzipped body')


def main(argv):
    if len(argv) != 3:
        print("usage: %s FETCHD_BINARY FETCHCTL_BINARY" % argv[0], file=sys.stderr)
        return 1
    fetchd, fetchctl = (os.path.abspath(a) for a in argv[1:])
    missing = [tool for tool in ("prometheus", "promtool") if shutil.which(tool) is None]
    if missing:
        print("SKIP: %s not installed (scripts/install-deps.sh --test installs them)"
              % " and ".join(missing))
        return SKIP
    for binary in (fetchd, fetchctl):
        if not os.access(binary, os.X_OK):
            print("FAIL: %s is not an executable" % binary, file=sys.stderr)
            return 1

    tmp = tempfile.mkdtemp(prefix="fetchd-prom-")
    processes, server = [], None
    try:
        server = TinyServer()
        log("tiny HTTP server on 127.0.0.1:%d" % server.port)
        web_port = free_port()
        socket_path = os.path.join(tmp, "control.sock")
        config = {
            "settings": {
                "control_socket": socket_path,
                "state_dir": os.path.join(tmp, "state"),
                "web_listen": ["127.0.0.1:%d" % web_port],
                "instance_labels": {"fleet": "test"},
            },
            "defaults": {"interval": "1s", "timeout": "2s"},
            "targets": [
                {"name": "web", "url": server.url("/"), "labels": {"team": "core"}},
                {"name": "down", "url": "http://127.0.0.1:1/"},
            ],
        }
        auth_path = os.path.join(tmp, "web-auth.json")
        write_auth_file(auth_path, {"basic_auth": {"prometheus": PASSWORD},
                                    "bearer_tokens": [TOKEN]})
        config["settings"]["web_auth_file"] = auth_path
        config_path = os.path.join(tmp, "fetchd.json")
        with open(config_path, "w") as f:
            json.dump(config, f, indent=2)
        daemon = Process("fetchd", [fetchd, "--config", config_path],
                         os.path.join(tmp, "fetchd.log"), cwd=tmp)
        processes.append(daemon)
        base = "http://127.0.0.1:%d" % web_port
        wait_for("fetchd's %s/-/ready to be 200" % base,
                 lambda: http_get(base + "/-/ready")[0] == 200, 15, alive=[daemon])
        log("fetchd is ready at " + base)

        # "gone" is a runtime target, so that it can be removed.
        wait_for("fetchctl status to answer",
                 lambda: run_fetchctl(fetchctl, socket_path, "--json", "status")[0] == 0, 10,
                 alive=[daemon])
        code, out, err = run_fetchctl(fetchctl, socket_path, "add", "gone", server.url("/gone"),
                                      "--interval", "1s")
        log("fetchctl add gone: exit %d %s%s" % (code, out.strip(), err.strip()))
        if code != 0:
            raise Failure("fetchctl add gone failed (exit %d): %s%s" % (code, out, err))

        check_credentials(base, [daemon])
        check_metrics_endpoint(tmp, base + "/metrics", BASIC, [daemon])

        prometheus, prom = start_prometheus(tmp, "127.0.0.1:%d" % web_port)
        processes.append(prometheus)
        alive = [daemon, prometheus]
        try:
            wait_for_query(prom, 'up{job="fetchd"} == 1', 60, alive)
        except Failure:
            raise Failure("Prometheus does not scrape fetchd: %s" % scrape_target_health(prom))
        wait_for_query(prom, 'probe_success{name="web",team="core"} == 1', 60, alive)
        wait_for_query(prom, 'fetchd_target_up{name="down"} == 0', 60, alive)
        wait_for_query(prom, 'probe_success{name="gone"}', 60, alive)
        health = scrape_target_health(prom)
        log("Prometheus' target: %s" % health)
        if any(h != "up" or e for _, h, e in health):
            raise Failure("Prometheus reports a scrape problem: %s" % health)

        code, out, err = run_fetchctl(fetchctl, socket_path, "remove", "gone")
        log("fetchctl remove gone: exit %d %s%s" % (code, out.strip(), err.strip()))
        if code != 0:
            raise Failure("fetchctl remove gone failed (exit %d): %s%s" % (code, out, err))
        status, _, body = http_get(base + "/metrics", dict(BASIC, Accept="text/plain"))
        if find_samples(body.decode(), "probe_success", name="gone"):
            raise Failure('/metrics still has probe_success{name="gone"} after the remove')
        log('  ok: /metrics no longer has probe_success{name="gone"}')
        # Gone from the scrape, the series is marked stale and leaves instant queries.
        wait_for_query(prom, 'probe_success{name="gone"}', 30, alive, empty=True)
        wait_for_query(prom, 'up{job="fetchd"} == 1', 10, alive)
        check_reloaded_credentials(fetchctl, socket_path, auth_path, base, alive)
        log("PASS")
        return 0
    except Failure as failure:
        print("FAIL: %s" % failure, file=sys.stderr)
        for process in processes:
            print("--- %s's output (%s), last lines:\n%s"
                  % (process.name, process.log_path, process.output()), file=sys.stderr)
        return 1
    finally:
        for process in reversed(processes):
            process.stop()
        if server is not None:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
