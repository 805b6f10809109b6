#!/usr/bin/python3
"""settings.shard: two fetchd instances split one set of targets as Prometheus' hashmod would.

usage: shard_test.py FETCHD_BINARY FETCHCTL_BINARY

Two instances run the same 20 targets t0..t19 (each its own path on one tiny HTTP server, interval
1s), one with "shard": {"index": 0, "count": 2} and one with {"index": 1, "count": 2}, each with its
own control socket and state directory. Checks, once every path has been fetched:
  - through each instance's `fetchctl --json list`: the union of the targets they run is all 20,
    the intersection empty, and each runs exactly those whose name hashes to its index
    (MD5 of the name, the last 8 bytes as a big-endian integer, mod 2 — Prometheus' hashmod);
  - by the server's hit counts: each path is fetched about once a second (one instance), not twice;
  - `fetchctl add` of a target of the other shard is refused (nonzero exit, a message naming the
    shard), and one of the instance's own shard is accepted.
Python standard library only. Exit status: 0 pass, 1 fail. Every wait is a poll with a deadline.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

COUNT = 2
NAMES = ["t%d" % i for i in range(20)]


from harness import Failure, log, wait_for, TinyServer, Process


def hashmod(value, modulus):
    """Prometheus' relabel action hashmod (model/relabel/relabel.go): md5 of the value, the last 8
    bytes of the digest as a big-endian uint64, mod the modulus."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


# Known answers (computed with hashlib, checked against the Go code's byte range).
assert [hashlib.md5(b"web").hexdigest(), hashmod("web", 2), hashmod("web", 3)] == [
    "2567a5ec9705eb7ac2c984033e06189d", 1, 2]
assert [(hashmod(n, 2), hashmod(n, 3)) for n in ("api", "target-1", "target-2", "db")] == [
    (0, 1), (0, 2), (1, 0), (1, 2)]


class Instance:
    def __init__(self, index, tmp, fetchd, fetchctl, targets):
        self.index = index
        self.fetchctl = fetchctl
        directory = os.path.join(tmp, "shard%d" % index)
        os.mkdir(directory)
        self.socket = os.path.join(directory, "control.sock")
        config = {
            "settings": {
                "control_socket": self.socket,
                "state_dir": os.path.join(directory, "state"),
                "shard": {"index": index, "count": COUNT},
            },
            "defaults": {"interval": "1s", "timeout": "2s"},
            "targets": targets,
        }
        path = os.path.join(directory, "fetchd.json")
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        self.process = Process("fetchd shard %d" % index, [fetchd, "--config", path],
                               os.path.join(directory, "fetchd.log"), cwd=directory)

    def ctl(self, *args):
        run = subprocess.run([self.fetchctl, "--socket", self.socket] + list(args),
                             capture_output=True, timeout=15)
        return run.returncode, run.stdout.decode(errors="replace"), run.stderr.decode(
            errors="replace")

    def listed(self):
        """{name: list entry} from `fetchctl --json list`."""
        code, out, err = self.ctl("--json", "list")
        if code != 0:
            raise Failure("shard %d: fetchctl list: exit %d %s%s" % (self.index, code, out, err))
        reply = json.loads(out)
        return {t["name"]: t for t in reply["result"]["targets"]}


def main(argv):
    if len(argv) != 3:
        print("usage: %s FETCHD_BINARY FETCHCTL_BINARY" % argv[0], file=sys.stderr)
        return 1
    fetchd, fetchctl = (os.path.abspath(a) for a in argv[1:])
    for binary in (fetchd, fetchctl):
        if not os.access(binary, os.X_OK):
            print("FAIL: %s is not an executable" % binary, file=sys.stderr)
            return 1

    tmp = tempfile.mkdtemp(prefix="fetchd-shard-")
    instances, server = [], None
    try:
        server = TinyServer()
        log("tiny HTTP server on 127.0.0.1:%d" % server.port)
        targets = [{"name": name, "url": server.url("/" + name)} for name in NAMES]
        expected = {i: {n for n in NAMES if hashmod(n, COUNT) == i} for i in range(COUNT)}
        for i in range(COUNT):
            log("shard %d should run: %s" % (i, " ".join(sorted(expected[i], key=NAMES.index))))
            instances.append(Instance(i, tmp, fetchd, fetchctl, targets))
        alive = [instance.process for instance in instances]
        for instance in instances:
            wait_for("shard %d's control socket" % instance.index,
                     lambda: instance.ctl("--json", "status")[0] == 0, 15, alive=alive)

        log("waiting until every one of the 20 paths has been fetched")
        wait_for("a fetch of every target",
                 lambda: all(server.hit_counts().get("/" + n, 0) >= 1 for n in NAMES), 20,
                 alive=alive)
        unexpected = set(server.hit_counts()) - {"/" + n for n in NAMES}
        if unexpected:
            raise Failure("requests for paths no target has: %s" % sorted(unexpected))

        runs = {}
        for instance in instances:
            # Listed and fetched: every target it runs has a latest attempt ("checked").
            listed = wait_for(
                "every target of shard %d to have been checked" % instance.index,
                lambda: (lambda l: l if all(t.get("checked") for t in l.values()) else None)(
                    instance.listed()), 15, alive=alive)
            runs[instance.index] = set(listed)
            log("shard %d runs %d: %s" % (instance.index, len(listed),
                                          " ".join(sorted(listed, key=NAMES.index))))
        union, both = runs[0] | runs[1], runs[0] & runs[1]
        if union != set(NAMES):
            raise Failure("no instance runs %s" % sorted(set(NAMES) - union))
        if both:
            raise Failure("both instances run %s" % sorted(both))
        for i in range(COUNT):
            if runs[i] != expected[i]:
                raise Failure("shard %d runs %s, hashmod says %s" % (
                    i, sorted(runs[i]), sorted(expected[i])))
        log("  ok: union all 20, intersection empty, the split is hashmod(name, 2)")

        # One fetcher per path: over a window of W seconds a 1s fixed-rate target is fetched
        # about W times; fetched by both instances it would be about 2W.
        window = 4.0
        before = server.hit_counts()
        started = time.monotonic()
        wait_for("a %gs window" % window, lambda: time.monotonic() - started >= window, 10)
        after = server.hit_counts()
        elapsed = time.monotonic() - started
        rates = {n: after.get("/" + n, 0) - before.get("/" + n, 0) for n in NAMES}
        log("hits per path in %.1fs: %s" % (elapsed, rates))
        doubled = {n: r for n, r in rates.items() if r > elapsed + 2}
        if doubled:
            raise Failure("fetched more often than one 1s schedule allows (by both instances?): "
                          "%s in %.1fs" % (doubled, elapsed))

        # Runtime adds: the other shard's name is refused, naming the shard; its own is accepted.
        zero = instances[0]
        foreign = next("extra%d" % k for k in range(100) if hashmod("extra%d" % k, COUNT) == 1)
        own = next("extra%d" % k for k in range(100) if hashmod("extra%d" % k, COUNT) == 0)
        code, out, err = zero.ctl("add", foreign, server.url("/" + foreign), "--interval", "1s")
        said = (out + err).strip()
        log("shard 0: fetchctl add %s (hash %d): exit %d: %s" % (foreign, 1, code, said))
        if code == 0:
            raise Failure("shard 0 accepted %s, which hashes to shard 1" % foreign)
        if "shard" not in said.lower():
            raise Failure("the refusal of %s does not mention the shard: %r" % (foreign, said))
        if foreign in zero.listed():
            raise Failure("shard 0 lists %s after refusing it" % foreign)
        code, out, err = zero.ctl("add", own, server.url("/" + own), "--interval", "1s")
        log("shard 0: fetchctl add %s (hash 0): exit %d: %s" % (own, code, (out + err).strip()))
        if code != 0:
            raise Failure("shard 0 refused %s, which hashes to shard 0: %s%s" % (own, out, err))
        wait_for("a fetch of %s" % own, lambda: server.hit_counts().get("/" + own, 0) >= 1, 10,
                 alive=alive)
        code, out, err = zero.ctl("remove", own)
        if code != 0:
            raise Failure("shard 0: fetchctl remove %s: exit %d %s%s" % (own, code, out, err))
        log("  ok: refused the other shard's target, ran and removed its own")
        log("PASS")
        return 0
    except Failure as failure:
        print("FAIL: %s" % failure, file=sys.stderr)
        for instance in instances:
            print("--- %s's output (%s), last lines:\n%s" % (
                instance.process.name, instance.process.log_path, instance.process.output()),
                file=sys.stderr)
        return 1
    finally:
        for instance in instances:
            instance.process.stop()
        if server is not None:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
