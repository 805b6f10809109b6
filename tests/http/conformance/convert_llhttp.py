#!/usr/bin/python3
"""Turn llhttp's response test cases into a conformance suite for fetchd's response parser.

llhttp (github.com/nodejs/llhttp, Node.js's HTTP parser) keeps its test cases in markdown:
test/response/*.md. Each case is a heading, an optional `<!-- meta={...} -->` comment, an
```http block with the raw bytes and a ```log block with the parser's expected callbacks. This
script reads those files from a bare git directory of llhttp (as the `fetch` tool gives it), and
writes llhttp_responses.json beside itself: one entry per case, with the input bytes in hex and
llhttp's verdict on the first final response reduced to outcome, status, headers, body, trailers.

The input bytes are rebuilt exactly as llhttp's test/md-test.ts builds them (markdown-it fence
content, trailing newline removed, backslash-newline joined, newlines made CRLF, then the escapes
\\r \\n \\t \\f \\xHH \\OOO), then UTF-8 encoded and cut at the first NUL, as the C fixture gets them
through argv. The log is read as llparse-test-fixture prints it: spans (`span[x]="..."`, or
`=lf` / `=cr` for a line break inside a span), callbacks, `error code=N reason="..."`.

What is kept, and why:
- Only llhttp's default mode: meta type "response" (also with a pause callback, which does not
  change what is parsed, or "skipBody", which is how llhttp handles a response to HEAD: the case
  gets "head": true) and "response-finish" (default mode, end of input applied). Cases of the
  lenient types (type "response-lenient-...") are skipped: they test flags that relax RFC 9112.
- One response: 1xx responses other than 101 that llhttp completes before it are interim; the
  verdict is that of the first final response. Anything llhttp reports after it (pipelined
  responses, "Data after Connection: close") is outside the case and only noted in "after".
- fetchd's driver applies end of input after the bytes; llhttp's cases (other than
  response-finish) do not. Where llhttp's log stops inside the first final response, the verdict
  is what llhttp_finish() would return there (src/native/api.c): a body delimited by the close
  completes (HTTP_FINISH_SAFE_WITH_CB, decided by llhttp_message_needs_eof() in
  src/native/http.c from the flags and status llhttp logged), anything else is
  HPE_INVALID_EOF_STATE. Such entries say so in "eof".
- Header values: llhttp's value spans end before CRLF but include trailing whitespace
  ("219  "); a field value does not (RFC 9112 section 5, RFC 9110 section 5.5), so it is trimmed.

Usage: convert_llhttp.py LLHTTP_GIT_DIR [--commit REV] [--output FILE]
Standard library only. Every byte of every span llhttp logs is checked against its `len=`.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "llhttp_responses.json"
RESPONSE_DIR = "test/response"

KEPT_TYPES = {"response", "response-finish"}

# llhttp flags (src/llhttp/constants.ts FLAGS).
F_CHUNKED = 1 << 3
F_CONTENT_LENGTH = 1 << 5
F_SKIPBODY = 1 << 6
F_TRANSFER_ENCODING = 1 << 9


# --- reading llhttp's repository -------------------------------------------------------------


def git(git_dir, *args):
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True,
                          capture_output=True).stdout


def error_names(git_dir, commit):
    """Maps llhttp's numeric error codes to HPE_ names, from src/llhttp/constants.ts."""
    source = git(git_dir, "show", f"{commit}:src/llhttp/constants.ts").decode()
    block = re.search(r"export const ERROR = \{(.*?)\}", source, re.S).group(1)
    return {int(code): "HPE_" + name for name, code in re.findall(r"(\w+): (\d+)", block)}


def response_files(git_dir, commit):
    names = git(git_dir, "ls-tree", "--name-only", f"{commit}:{RESPONSE_DIR}").decode().split()
    return sorted(name for name in names if name.endswith(".md"))


# --- markdown, as mdgator (markdown-it) sees it ----------------------------------------------

ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)\s*$")
FENCE = re.compile(r"^ {0,3}```\s*(\S*)\s*$")
META = re.compile(r"<!--\s+meta=(.*)\s+-->")


def markdown_tests(text):
    """Yields (heading, line, meta, {fence info: [content]}) for each heading that has fences.

    Follows mdgator: a fence belongs to the nearest heading below the document title, and a meta
    comment applies to the next fence. Fence content is its lines, each ending in "\\n".
    """
    lines = text.split("\n")
    tests = []
    current = None
    depth_one_seen = False
    meta = None
    fence_info = None
    fence_lines = []
    for number, line in enumerate(lines, start=1):
        if fence_info is not None:
            if FENCE.match(line) and FENCE.match(line).group(1) == "":
                if current is not None:
                    current["fences"].setdefault(fence_info, []).append(
                        "".join(item + "\n" for item in fence_lines))
                    if fence_meta is not None:
                        current["meta"].setdefault(fence_info, []).append(fence_meta)
                fence_info = None
            else:
                fence_lines.append(line)
            continue
        fence_match = FENCE.match(line)
        if fence_match:
            fence_info, fence_lines, fence_meta, meta = fence_match.group(1), [], meta, None
            continue
        heading = heading_at(lines, number - 1)
        if heading is not None:
            level, name = heading
            meta = None
            if level == 1 and not depth_one_seen:
                depth_one_seen = True
                current = None
                continue
            current = {"name": name, "line": number, "meta": {}, "fences": {}}
            tests.append(current)
            continue
        meta_match = META.search(line)
        if meta_match:
            meta = json.loads(meta_match.group(1))
    return [test for test in tests if test["fences"]]


def heading_at(lines, index):
    """(level, text) when lines[index] is an ATX heading or the text line of a setext one."""
    match = ATX_HEADING.match(lines[index])
    if match:
        return len(match.group(1)), match.group(2)
    if index + 1 < len(lines) and lines[index].strip() and not lines[index].startswith("<"):
        underline = SETEXT_UNDERLINE.match(lines[index + 1])
        if underline:
            return (1 if underline.group(1)[0] == "=" else 2), lines[index].strip()
    return None


# --- input bytes, as test/md-test.ts builds them ---------------------------------------------


def input_bytes(fence_content):
    text = re.sub(r"\n\Z", "", fence_content)  # JavaScript /\n$/: only at the very end
    text = re.sub(r"\\(\r\n|\r|\n)", "", text)
    text = re.sub(r"\r\n|\r|\n", "\r\n", text)
    text = text.replace("\\r", "\r").replace("\\n", "\n")
    text = text.replace("\\t", "\t").replace("\\f", "\f")
    text = re.sub(r"\\x([0-9a-fA-F]+)", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"\\([0-7]{1,3})", lambda m: chr(int(m.group(1), 8)), text)
    if re.search(r"\$\{(.+?)\}", text):
        raise ValueError("inline JavaScript in a test input is not supported")
    data = text.encode("utf-8")
    return data.split(b"\0", 1)[0]  # the fixture gets the input as a C string


# --- the log ---------------------------------------------------------------------------------

SPAN = re.compile(r'^off=(\d+) len=(\d+) span\[(\w+)\]="(.*)"$')
SPAN_BREAK = re.compile(r"^off=(\d+) len=1 span\[(\w+)\]=(lf|cr)$")
HEADERS_COMPLETE = re.compile(
    r"^off=\d+ headers complete status=(\d+) v=(\d+)/(\d+) flags=([0-9a-f]+) content_length=\d+$")
ERROR = re.compile(r'^off=(\d+) error code=(\d+) reason="(.*)"$')
EVENT = re.compile(r"^off=(?:\d+|NULL) (.*)$")

IGNORED_EVENTS = re.compile(
    r"^(protocol|version|status|chunk_extension_name|chunk_extension_value) complete$"
    r"|^chunk complete$|^reset$|^pause$|^skip body$")


def log_lines(log_content):
    text = log_content.replace("\\t", "\t").replace("\\f", "\f")
    return text.split("\n")[:-1]


class Message:
    """What llhttp reported for one response."""

    def __init__(self):
        self.status = None
        self.version = None
        self.flags = 0
        self.headers = []
        self.trailers = []
        self.body = b""
        self.in_trailers = False
        self.complete = False
        self.error = None
        self.skip_body = False
        self.after = None


def parse_log(lines, errors, data):
    """Returns (messages, finish state or None). Raises ValueError on anything unexpected.

    Every span must be the input's bytes at the offset llhttp logged: that checks both the log
    reading and the rebuilt input.
    """
    messages = []
    spans = {}
    field = None
    finish = None
    for line in lines:
        message = messages[-1] if messages else None
        span = SPAN.match(line)
        brk = SPAN_BREAK.match(line)
        if span or brk:
            name = (span or brk).group(3 if span else 2)
            piece = span_bytes(span) if span else (b"\n" if brk.group(3) == "lf" else b"\r")
            offset = int((span or brk).group(1))
            if data[offset:offset + len(piece)] != piece:
                raise ValueError(f"span {line!r} is not the input's bytes at offset {offset}")
            if name == "body":
                message.body += piece
            else:
                spans[name] = spans.get(name, b"") + piece
            continue
        headers = HEADERS_COMPLETE.match(line)
        if headers:
            message.status = int(headers.group(1))
            message.version = f"{headers.group(2)}.{headers.group(3)}"
            message.flags = int(headers.group(4), 16)
            continue
        error = ERROR.match(line)
        if error:
            verdict = {"code": errors[int(error.group(2))], "reason": error.group(3)}
            if message is None:
                message = Message()
                messages.append(message)
            if message.complete:
                message.after = verdict
            else:
                message.error = verdict
            continue
        event = EVENT.match(line)
        if not event:
            raise ValueError(f"unrecognised log line {line!r}")
        name = event.group(1)
        if name == "message begin":
            messages.append(Message())
            spans = {}
        elif name == "header_field complete":
            field = spans.pop("header_field", b"")
        elif name == "header_value complete":
            value = spans.pop("header_value", b"").rstrip(b" \t")
            (message.trailers if message.in_trailers else message.headers).append((field, value))
        elif name.startswith("chunk header len="):
            message.in_trailers = name == "chunk header len=0"
        elif name == "message complete":
            message.complete = True
        elif name == "skip body":
            message.skip_body = True
        elif name.startswith("finish="):
            finish = int(name.split("=", 1)[1])
        elif not IGNORED_EVENTS.match(name):
            raise ValueError(f"unrecognised log event {line!r}")
    return messages, finish


def span_bytes(match):
    data = match.group(4).encode("utf-8")
    if len(data) != int(match.group(2)):
        raise ValueError(f"span length mismatch in {match.group(0)!r}")
    return data


def needs_eof(message):
    """llhttp_message_needs_eof() for a response (src/native/http.c)."""
    if message.status // 100 == 1 or message.status in (204, 304):
        return False
    if message.skip_body:
        return False
    if message.flags & F_TRANSFER_ENCODING and not message.flags & F_CHUNKED:
        return True
    return not message.flags & (F_CHUNKED | F_CONTENT_LENGTH)


def is_interim(message):
    return message.complete and message.status is not None and 100 <= message.status < 200 \
        and message.status != 101


# --- verdicts --------------------------------------------------------------------------------


def latin1(data):
    return data.decode("latin-1")


def verdict(messages):
    """llhttp's verdict on the first final response (interim 1xx before it skipped)."""
    interim = []
    for message in messages:
        if is_interim(message):
            interim.append(message.status)
            continue
        return describe(message, interim)
    if messages and messages[-1].error is not None:
        return describe(messages[-1], interim)
    return {"outcome": "error", "error": "HPE_INVALID_EOF_STATE", "interim": interim,
            "eof": "no final response before the end of input"}


def describe(message, interim):
    out = {}
    if message.error is not None:
        out["outcome"] = "error"
        out["error"] = message.error["code"]
        out["reason"] = message.error["reason"]
    elif message.complete:
        out["outcome"] = "complete"
    elif message.status is not None and needs_eof(message):
        out["outcome"] = "complete"
        out["eof"] = "read until close: llhttp_finish() completes the message"
    else:
        out["outcome"] = "error"
        out["error"] = "HPE_INVALID_EOF_STATE"
        out["eof"] = "log ends inside the message: llhttp_finish() returns HPE_INVALID_EOF_STATE"
    if message.status is not None:
        out["status"] = message.status
        out["version"] = message.version
        out["headers"] = [[latin1(n), latin1(v)] for n, v in message.headers]
        out["trailers"] = [[latin1(n), latin1(v)] for n, v in message.trailers]
        out["body"] = latin1(message.body)
    out["interim"] = interim
    if message.after is not None:
        out["after"] = f"{message.after['code']}: {message.after['reason']}"
    return out


# --- the cases -------------------------------------------------------------------------------


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def convert_file(git_dir, commit, file_name, errors, seen_ids):
    """Returns (cases, skipped) for one test/response/*.md file."""
    text = git(git_dir, "show", f"{commit}:{RESPONSE_DIR}/{file_name}").decode("utf-8")
    stem = file_name[:-3]
    cases, skipped = [], []
    for test in markdown_tests(text):
        case_id = unique_id(f"{stem}/{slug(test['name'])}", seen_ids)
        meta = (test["meta"].get("http") or [{}])[0]
        kind = meta.get("type")
        if kind not in KEPT_TYPES:
            skipped.append({"id": case_id, "type": kind,
                            "why": "lenient flags: not llhttp's default mode"})
            continue
        if meta.get("skip"):
            skipped.append({"id": case_id, "type": kind, "why": "skipped by llhttp itself"})
            continue
        data = input_bytes(test["fences"]["http"][0])
        messages, finish = parse_log(log_lines(test["fences"]["log"][0]), errors, data)
        case = {
            "id": case_id,
            "title": test["name"],
            "source": f"nodejs/llhttp {RESPONSE_DIR}/{file_name} @ {commit}",
            "line": test["line"],
            "input_hex": data.hex(),
        }
        if meta.get("skipBody"):
            case["head"] = True
        case["llhttp"] = verdict(messages)
        if finish is not None:
            case["llhttp"]["finish"] = finish
        cases.append(case)
    return cases, skipped


def unique_id(case_id, seen_ids):
    candidate, number = case_id, 2
    while candidate in seen_ids:
        candidate, number = f"{case_id}-{number}", number + 1
    seen_ids.add(candidate)
    return candidate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("git_dir", help="bare git directory of nodejs/llhttp")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    args = parser.parse_args()
    commit = git(args.git_dir, "rev-parse", f"{args.commit}^{{commit}}").decode().strip()
    errors = error_names(args.git_dir, commit)
    cases, skipped, seen = [], [], set()
    for file_name in response_files(args.git_dir, commit):
        file_cases, file_skipped = convert_file(args.git_dir, commit, file_name, errors, seen)
        cases += file_cases
        skipped += file_skipped
    with open(args.output, "w", encoding="utf-8") as out:
        json.dump(cases, out, indent=1, ensure_ascii=False)
        out.write("\n")
    print(f"llhttp {commit}: {len(cases)} cases converted, {len(skipped)} skipped")
    for item in skipped:
        print(f"  skipped {item['id']} (type {item['type']}): {item['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
