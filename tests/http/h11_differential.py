#!/usr/bin/python3
"""Differential test of fetchd's response parser against Python's h11.

h11 (https://github.com/python-hyper/h11) is an independent, carefully specified HTTP/1.1
implementation. Running both parsers on the same bytes finds places where fetchd's reading of
RFC 9112 differs from another careful one: each such place is either a fetchd bug or a known,
explained difference of policy or strictness.

For every input, h11 plays a client that sent `GET / HTTP/1.1` (with Host) and then received the
bytes followed by end of input (`receive_data(b"")`); fetchd's driver parses the same bytes with
end of input applied. Compared: outcome (a complete response, or an error), status, reason,
HTTP version, interim 1xx statuses, header fields (names case-insensitively, values exactly, in
order), body and trailer fields.

Inputs, from the paths given:
- a directory whose parent is named `corpus` is a fuzz corpus (tests/fuzz/corpus/response_parser):
  each file starts with 3 option bytes; only files whose option byte has bit 0 (HEAD) and bit 3
  (small limits) clear are used, the 3 bytes stripped; end of input is always applied;
- a `.json` file is a list of llhttp cases (conformance/llhttp_responses.json); cases of a
  response to HEAD are left out (h11 plays a GET here);
- any other directory holds raw responses, one per file (tests/http/h11_inputs/);
- always: a few inputs generated here because they are too large to keep as files (a body over
  fetchd's 1 MiB limit, a head over its 64 KiB limit).

Where the two disagree, a rule of h11_differences.json must explain it:
    {"rule": "...", "match": "<predicate name>", "rfc": "RFC 9112 §x", "verdict": "..."}
where match names a predicate in PREDICATES below, a function of (input bytes, fetchd result,
h11 result) that is true when the rule explains the disagreement. Exit status 1 when a
disagreement is unexplained (the input and both results are printed), when a rule explains none,
or when a rule's verdict is "fetchd wrong" (a known fetchd bug, until it is fixed); 0 otherwise.

Usage: h11_differential.py PARSE_RESPONSE_BINARY INPUT...
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import h11
except ImportError:
    sys.exit("h11_differential.py needs h11: apt-get install python3-h11 "
             "(scripts/install-deps.sh --test installs it)")

HERE = Path(__file__).resolve().parent
RULES_FILE = HERE / "h11_differences.json"
VERDICTS = ("fetchd wrong", "peer lenient", "policy", "peer strict")
COMPARED = ("outcome", "status", "reason", "version", "interim", "headers", "body", "trailers")

FETCHD_MAX_HEAD = 64 * 1024
FETCHD_MAX_BODY = 1024 * 1024
# h11's limit on an incomplete event (16 KiB by default) raised to fetchd's head limit, so that a
# head fetchd accepts is not refused for its size alone.
H11_MAX_INCOMPLETE_EVENT = FETCHD_MAX_HEAD


# --- inputs ----------------------------------------------------------------------------------


def fuzz_corpus_inputs(directory):
    """Files of a fuzz corpus: option byte (bit 0 HEAD, bit 3 small limits), 2 seed bytes, data."""
    inputs = {}
    for path in sorted(directory.iterdir()):
        data = path.read_bytes()
        if len(data) >= 3 and not data[0] & 0b1001:
            inputs[f"fuzz/{path.name}"] = data[3:]
    return inputs


def raw_inputs(directory):
    return {f"{directory.name}/{path.name}": path.read_bytes()
            for path in sorted(directory.iterdir()) if path.is_file()}


def llhttp_inputs(path):
    cases = json.loads(path.read_text(encoding="utf-8"))
    return {f"llhttp/{case['id']}": bytes.fromhex(case["input_hex"])
            for case in cases if not case.get("head")}


def generated_inputs():
    body = b"x" * (FETCHD_MAX_BODY + 10)
    head_field = b"X-Big: " + b"a" * FETCHD_MAX_HEAD + b"\r\n"
    return {
        "generated/body-over-1mib":
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
        "generated/head-over-64kib":
            b"HTTP/1.1 200 OK\r\n" + head_field + b"Content-Length: 0\r\n\r\n",
    }


def collect_inputs(paths):
    inputs = {}
    for name in paths:
        path = Path(name)
        if path.suffix == ".json":
            inputs.update(llhttp_inputs(path))
        elif path.is_dir() and path.parent.name == "corpus":
            inputs.update(fuzz_corpus_inputs(path))
        elif path.is_dir():
            inputs.update(raw_inputs(path))
        else:
            sys.exit(f"not an input directory or case list: {name}")
    inputs.update(generated_inputs())
    return inputs


# --- the two parsers -------------------------------------------------------------------------


def text(data):
    return bytes(data).decode("latin-1")


def run_fetchd(binary, inputs):
    """{name: result} from one driver call over all inputs."""
    with tempfile.TemporaryDirectory(prefix="fetchd-h11-") as tmp:
        paths = {}
        for index, (name, data) in enumerate(sorted(inputs.items())):
            path = Path(tmp) / f"{index:04d}.http"
            path.write_bytes(data)
            paths[str(path)] = name
        run = subprocess.run([binary, *paths], capture_output=True, check=False, timeout=60)
        if run.returncode != 0:
            sys.exit(f"{binary} exited with {run.returncode}: {run.stderr.decode()}")
        return {paths[line["file"]]: fetchd_view(line)
                for line in map(json.loads, run.stdout.splitlines())}


def fetchd_view(line):
    view = {"outcome": line["outcome"], "interim": line.get("interim", [])}
    if line["outcome"] == "error":
        view["error"] = f"{line['error']}: {line.get('detail', '')}"
    if "status" in line:
        view.update({key: line[key] for key in
                     ("status", "reason", "version", "headers", "body", "trailers",
                      "body_truncated")})
    return view


def run_h11(data):
    """What h11, as a client that sent GET /, makes of the bytes followed by end of input.

    The outcome is settled by the final response's EndOfMessage: what h11 says about bytes after
    it (e.g. "Got data when expecting EOF" for a pipelined response) is kept as "after" only, as
    fetchd reads one response per connection and ignores what follows it.
    """
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=H11_MAX_INCOMPLETE_EVENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "fetchd.test")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    view = {"outcome": "incomplete", "interim": [], "events": []}
    body = bytearray()
    closed = False
    for _ in range(len(data) + 10):  # a bound, should h11 ever stop making progress
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as error:
            if view["outcome"] == "complete":
                view["after"] = str(error)
            else:
                view.update(outcome="error", error=str(error))
            break
        if event is h11.NEED_DATA and not closed:
            conn.receive_data(b"")
            closed = True
            continue
        if event in (h11.NEED_DATA, h11.PAUSED) or isinstance(event, h11.ConnectionClosed):
            view["events"].append(getattr(event, "__name__", type(event).__name__))
            break
        record_event(view, event, body)
    if "status" in view:
        view["body"] = text(body)
    return view


def record_event(view, event, body):
    view["events"].append(type(event).__name__)
    if isinstance(event, h11.InformationalResponse):
        view["interim"].append(event.status_code)
    elif isinstance(event, h11.Response):
        view.update(status=event.status_code, reason=text(event.reason),
                    version=text(event.http_version), headers=fields(event.headers), trailers=[])
    elif isinstance(event, h11.Data):
        body += event.data
    elif isinstance(event, h11.EndOfMessage) and "status" in view:
        view["trailers"] = fields(event.headers)
        view["outcome"] = "complete"


def fields(headers):
    return [[text(name), text(value)] for name, value in headers.raw_items()]


# --- comparing -------------------------------------------------------------------------------


def comparable(view, key):
    value = view.get(key)
    if key in ("headers", "trailers") and value is not None:
        return [[name.lower(), field_value] for name, field_value in value]
    return value


def differing_fields(fetchd, peer):
    if fetchd["outcome"] != peer["outcome"]:
        return ["outcome"]
    if fetchd["outcome"] != "complete":
        return []
    return [key for key in COMPARED if comparable(fetchd, key) != comparable(peer, key)]


# --- what the rules know about an input -------------------------------------------------------


HEAD_END = re.compile(rb"\r?\n\r?\n")


def heads(data):
    """(lines, end offset) of each head at the start of the input: the status line and field
    lines up to the empty line, repeated while the head is a 1xx one. Lenient on purpose (LF or
    CRLF, empty lines before a status line skipped): it only has to locate things for the rules."""
    found, position = [], 0
    while True:
        while data[position:position + 1] in (b"\r", b"\n") and position < len(data):
            position += 1
        end = HEAD_END.search(data, position)
        block = data[position:] if end is None else data[position:end.start()]
        found.append(([line.rstrip(b"\r") for line in block.split(b"\n")],
                      len(data) if end is None else end.end()))
        if end is None or not re.match(rb"HTTP/\d\.\d 1\d\d", block):
            return found
        position = end.end()


def field_values(data, name):
    """Values of the named field (case-insensitive) in the last head of the input."""
    prefix = name.lower().encode() + b":"
    lines = heads(data)[-1][0]
    return [line[len(prefix):].strip(b" \t") for line in lines[1:]
            if line.lower().startswith(prefix)]


def chunk_size_lines(data):
    """The chunk size lines of a chunked body after the last head, each with its terminator."""
    position, lines = heads(data)[-1][1], []
    while position < len(data):
        newline = data.find(b"\n", position)
        if newline < 0:
            break
        line = data[position:newline + 1]
        lines.append(line)
        size = re.match(rb"[0-9a-fA-F]+", line)
        if size is None or int(size.group(0), 16) == 0:
            break
        position = newline + 1 + int(size.group(0), 16) + 2
    return lines


def h11_error(peer, *fragments):
    return peer["outcome"] == "error" and any(f in peer.get("error", "") for f in fragments)


def fetchd_error(fetchd, fragment):
    return fetchd["outcome"] == "error" and fragment in fetchd["error"]


def both_complete(fetchd, peer):
    return fetchd["outcome"] == peer["outcome"] == "complete"


def only_differ_in(fetchd, peer, *keys):
    return both_complete(fetchd, peer) and set(differing_fields(fetchd, peer)) <= set(keys)


CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")

PREDICATES = {}


def predicate(function):
    PREDICATES[function.__name__] = function
    return function


# --- predicates: the rules of h11_differences.json name them ---------------------------------


@predicate
def h11_rejects_transfer_encoding_other_than_chunked(data, fetchd, peer):
    """fetchd framed a Transfer-Encoding h11 refuses: anything but one field "chunked"."""
    values = field_values(data, "Transfer-Encoding")
    return fetchd["outcome"] == "complete" and values and \
        (len(values) > 1 or values[0].lower() != b"chunked") and \
        h11_error(peer, "Only Transfer-Encoding: chunked is supported",
                  "multiple Transfer-Encoding headers")


@predicate
def h11_normalizes_framing_fields(data, fetchd, peer):
    """Same response; h11 reports Content-Length once, as one number, and Transfer-Encoding
    lowercased, where fetchd reports the fields as received."""
    if not only_differ_in(fetchd, peer, "headers"):
        return False
    return h11_style_fields(fetchd["headers"]) == [[n.lower(), v] for n, v in peer["headers"]]


def h11_style_fields(fields_received):
    out, seen_length = [], False
    for name, value in fields_received:
        lower = name.lower()
        if lower == "content-length":
            if seen_length:
                continue
            seen_length = True
            value = value.split(",")[0].strip()
        elif lower == "transfer-encoding":
            value = value.lower()
        out.append([lower, value])
    return out


@predicate
def h11_rejects_empty_lines_before_status_line(data, fetchd, peer):
    """fetchd skipped empty lines before a status line (at the start or after a 1xx head)."""
    starts = [0] + [end for _, end in heads(data)[:-1]]
    return fetchd["outcome"] == "complete" and h11_error(peer, "no response line received") \
        and any(data[start:start + 1] in (b"\r", b"\n") for start in starts)


@predicate
def h11_requires_crlf_after_chunk_size(data, fetchd, peer):
    """fetchd accepted a chunk size line ended by a lone LF."""
    lone_lf = any(not line.endswith(b"\r\n") for line in chunk_size_lines(data))
    return fetchd["outcome"] == "complete" and lone_lf and h11_error(peer, "illegal chunk header")


@predicate
def h11_rejects_whitespace_before_chunk_extension(data, fetchd, peer):
    """fetchd accepted BWS between the chunk size and ";" (chunk-ext = *( BWS ";" ... ))."""
    bws = any(re.match(rb"[0-9a-fA-F]+[ \t]+;", line) for line in chunk_size_lines(data))
    return fetchd["outcome"] == "complete" and bws and h11_error(peer, "illegal chunk header")


@predicate
def h11_accepts_control_characters(data, fetchd, peer):
    """h11's field-vchar is any byte but NUL and whitespace, so it keeps CTLs fetchd rejects."""
    head = b"\n".join(b"\n".join(lines) for lines, _ in heads(data))
    return peer["outcome"] == "complete" and CONTROL_BYTES.search(head) is not None and \
        fetchd_error(fetchd, "control character")


@predicate
def h11_keeps_whitespace_around_obs_fold(data, fetchd, peer):
    """h11 replaces only CRLF+indent with one SP, keeping the OWS before the CRLF; fetchd makes
    the whole obs-fold (OWS CRLF RWS) one SP. Equal once runs of whitespace are one SP."""
    if not only_differ_in(fetchd, peer, "headers", "trailers"):
        return False

    def squeezed(view):
        return [[n.lower(), re.sub(r"[ \t]+", " ", v)] for key in ("headers", "trailers")
                for n, v in view[key]]
    return squeezed(fetchd) == squeezed(peer)


@predicate
def h11_accepts_any_chunk_extension(data, fetchd, peer):
    """h11's chunk-ext is ";" followed by anything; fetchd requires printable text after ";"."""
    bad = any(CONTROL_BYTES.search(line.split(b";", 1)[1].rstrip(b"\r\n"))
              for line in chunk_size_lines(data) if b";" in line)
    return peer["outcome"] == "complete" and bad and fetchd_error(fetchd, "bad_chunk")


@predicate
def h11_accepts_http_versions_other_than_1x(data, fetchd, peer):
    """h11 takes any DIGIT.DIGIT version in a status line; fetchd only HTTP/1.x."""
    return peer["outcome"] == "complete" and not peer["version"].startswith("1.") and \
        fetchd_error(fetchd, "unsupported HTTP version")


@predicate
def h11_parses_transfer_encoding_in_http10(data, fetchd, peer):
    return peer["outcome"] == "complete" and peer["version"] == "1.0" and \
        fetchd_error(fetchd, "Transfer-Encoding in an HTTP/1.0 response")


@predicate
def h11_rejects_101_without_upgrade_request(data, fetchd, peer):
    """fetchd reports a 101 as the final, bodiless response; h11 wants an Upgrade request."""
    return fetchd["outcome"] == "complete" and fetchd["status"] == 101 and \
        h11_error(peer, "event without a pending proposal")


@predicate
def fetchd_truncates_body_at_1mib(data, fetchd, peer):
    return only_differ_in(fetchd, peer, "body") and fetchd["body_truncated"] and \
        len(fetchd["body"]) == FETCHD_MAX_BODY and peer["body"].startswith(fetchd["body"])


@predicate
def fetchd_limits_head_to_64kib(data, fetchd, peer):
    return peer["outcome"] == "complete" and fetchd_error(fetchd, "headers_too_large") and \
        heads(data)[-1][1] > FETCHD_MAX_HEAD


# Not listed in h11_differences.json while fetchd accepts trailing whitespace after a chunk size
# (conformance/differences.json lists that as a fetchd bug); list it once fetchd rejects it.
@predicate
def h11_accepts_whitespace_after_chunk_size(data, fetchd, peer):
    """h11's chunk header is chunk-size [";" ...] OWS CRLF: it accepts "5  " without an
    extension, which the grammar does not."""
    trailing = any(re.match(rb"[0-9a-fA-F]+[ \t]+\r?\n", line) for line in chunk_size_lines(data))
    return peer["outcome"] == "complete" and trailing and fetchd_error(fetchd, "bad_chunk")


def load_rules():
    rules = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    problems = []
    for rule in rules:
        if rule.get("match") not in PREDICATES:
            problems.append(f"rule {rule.get('rule')!r}: no predicate named {rule.get('match')!r}")
        if rule.get("verdict") not in VERDICTS:
            problems.append(f"rule {rule.get('rule')!r}: verdict must be one of {VERDICTS}")
        if not rule.get("rfc"):
            problems.append(f"rule {rule.get('rule')!r}: needs \"rfc\"")
    return rules, problems


def show(value, limit=700):
    shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, bytes) else repr(value)
    return shown if len(shown) <= limit else shown[:limit] + f"... ({len(shown)} characters)"


def report(name, data, fetchd, peer, message):
    print(f"FAIL {name}: {message}")
    print(f"  bytes:  {show(data)}")
    print(f"  fetchd: {show(fetchd)}")
    print(f"  h11:    {show(peer)}")


def explaining_rules(rules, data, fetchd, peer):
    return [rule for rule in rules if rule["match"] in PREDICATES
            and PREDICATES[rule["match"]](data, fetchd, peer)]


def check(inputs, fetchd_results, rules):
    failures, agree, used = 0, 0, {rule["match"]: 0 for rule in rules}
    for name, data in sorted(inputs.items()):
        fetchd, peer = fetchd_results[name], run_h11(data)
        differing = differing_fields(fetchd, peer)
        if not differing:
            agree += 1
            continue
        explained = explaining_rules(rules, data, fetchd, peer)
        if not explained:
            failures += 1
            report(name, data, fetchd, peer, f"unexplained disagreement in {', '.join(differing)}")
            continue
        for rule in explained:
            used[rule["match"]] += 1
        print(f"  {name}: {', '.join(differing)} differ, explained by {explained[0]['match']}")
        wrong = [rule for rule in explained if rule["verdict"] == "fetchd wrong"]
        if wrong:
            failures += 1
            report(name, data, fetchd, peer, f"known fetchd bug: {wrong[0]['rule']}")
    return failures, agree, used


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    rules, problems = load_rules()
    for problem in problems:
        print(f"FAIL h11_differences.json: {problem}")
    inputs = collect_inputs(argv[2:])
    failures, agree, used = check(inputs, run_fetchd(argv[1], inputs), rules)
    for rule in rules:
        if used.get(rule["match"]) == 0:
            failures += 1
            print(f"FAIL rule {rule['rule']!r} ({rule['match']}) explains no disagreement: "
                  "remove it")
    failures += len(problems)
    sources = {}
    for name in inputs:
        sources[name.split("/")[0]] = sources.get(name.split("/")[0], 0) + 1
    print(f"{len(inputs)} inputs ({', '.join(f'{n} {k}' for k, n in sorted(sources.items()))}) "
          f"compared with h11 {h11.__version__}: {agree} agree, {len(inputs) - agree} differ; "
          f"{failures} failure(s)")
    for rule in rules:
        print(f"  {used.get(rule['match'], 0):3d} {rule['verdict']}: {rule['rule']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
