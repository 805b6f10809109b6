"""Shared by the Python integration tests (prometheus_test.py, shard_test.py): failures, waits with
deadlines, a tiny HTTP server on loopback that counts its hits, and a child process that is always
cleaned up. Python standard library only."""

import http.server
import socket
import subprocess
import threading
import time


class Failure(Exception):
    pass


def log(message):
    print(message, flush=True)


def free_port():
    """An ephemeral loopback port that was free a moment ago (bound to port 0, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, condition, timeout, poll=0.1, alive=None):
    """Polls condition() until it returns something truthy (returned) or timeout seconds pass.

    alive: a list of Process that must keep running meanwhile."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last = value
        except (OSError, ValueError, Failure) as error:  # not up yet, a refused connection, ...
            last = error
        for process in alive or []:
            process.check_running()
        if time.monotonic() >= deadline:
            raise Failure("timed out after %gs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(poll)


class TinyServer:
    """200 "ok" on every path, counting the requests per path; serves from a thread."""

    def __init__(self):
        self.hits = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with owner.lock:
                    owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                body = b"ok\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def hit_counts(self):
        with self.lock:
            return dict(self.hits)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Process:
    """A child process whose stdout and stderr go to a log file."""

    def __init__(self, name, argv, log_path, cwd=None):
        self.name = name
        self.log_path = log_path
        log("starting %s: %s" % (name, " ".join(argv)))
        self.log_file = open(log_path, "wb")
        self.popen = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, cwd=cwd)

    def output(self, tail=60):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-tail:])

    def check_running(self):
        code = self.popen.poll()
        if code is not None:
            raise Failure("%s exited early with status %d; its output:\n%s"
                          % (self.name, code, self.output()))

    def stop(self, timeout=10):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log("%s did not stop within %gs of SIGTERM: killing it" % (self.name, timeout))
                self.popen.kill()
                self.popen.wait(timeout)
        self.log_file.close()
        return self.popen.returncode
