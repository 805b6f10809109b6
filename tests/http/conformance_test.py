#!/usr/bin/python3
"""Conformance of fetchd's response parser against llhttp's response test cases.

conformance/llhttp_responses.json holds llhttp's own test cases for responses (converted by
conformance/convert_llhttp.py from nodejs/llhttp test/response/*.md, default mode only) with
llhttp's verdict on each. This test runs fetchd's parser on the same bytes (through the
fetchd_parse_response driver, end of input applied) and compares outcome (complete or error) and,
when both complete, status, interim 1xx statuses, headers, trailers and body.

fetchd does not aim to agree with llhttp everywhere: the two parsers make different choices
where RFC 9112 allows them, and each is stricter or more lenient than the RFC in places. So every
case where they differ must be explained in conformance/differences.json:

    {"<case id>": {"verdict": "fetchd wrong" | "peer lenient" | "policy" | "peer strict",
                   "rfc": "RFC 9112 §x.y", "why": "..."}}

The test fails (exit 1) on a difference that is not listed, on a listed case that no longer
differs (remove it), and on any "fetchd wrong" entry: those are bugs to fix in fetchd, listed so
that the test names them until they are fixed.

Usage: conformance_test.py PARSE_RESPONSE_BINARY
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES_FILE = HERE / "conformance" / "llhttp_responses.json"
DIFFERENCES_FILE = HERE / "conformance" / "differences.json"
VERDICTS = ("fetchd wrong", "peer lenient", "policy", "peer strict")
COMPARED_WHEN_COMPLETE = ("status", "interim", "headers", "trailers", "body")


def run_driver(binary, inputs):
    """Runs the driver on {name: (bytes, head)}; returns {name: result}. One call per HEAD flag."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="fetchd-conformance-") as tmp:
        paths = {}
        for index, (name, (data, head)) in enumerate(sorted(inputs.items())):
            path = Path(tmp) / f"{index:04d}.http"
            path.write_bytes(data)
            paths.setdefault(head, []).append((str(path), name))
        for head, group in paths.items():
            args = [binary] + (["--head"] if head else []) + [path for path, _ in group]
            run = subprocess.run(args, capture_output=True, check=False, timeout=60)
            if run.returncode != 0:
                sys.exit(f"{binary} exited with {run.returncode}: {run.stderr.decode()}")
            by_path = {line["file"]: line for line in map(json.loads, run.stdout.splitlines())}
            for path, name in group:
                results[name] = by_path[path]
    return results


def fetchd_view(result):
    view = {"outcome": result["outcome"], "interim": result.get("interim", [])}
    if result["outcome"] == "error":
        view["error"] = result["error"]
        view["detail"] = result.get("detail", "")
    if "status" in result:
        for key in ("status", "headers", "trailers", "body"):
            view[key] = result[key]
    return view


def llhttp_view(case):
    verdict = case["llhttp"]
    keys = ("outcome", "error", "reason", "eof", "interim") + COMPARED_WHEN_COMPLETE
    return {key: verdict[key] for key in keys if key in verdict}


def differing_fields(fetchd, llhttp):
    """The fields in which the two verdicts differ (empty when they agree)."""
    if fetchd["outcome"] != llhttp["outcome"]:
        return ["outcome"]
    if fetchd["outcome"] != "complete":
        return []
    return [key for key in COMPARED_WHEN_COMPLETE if fetchd.get(key) != llhttp.get(key)]


def load_differences():
    differences = json.loads(DIFFERENCES_FILE.read_text(encoding="utf-8"))
    problems = []
    for case_id, entry in differences.items():
        if entry.get("verdict") not in VERDICTS:
            problems.append(f"{case_id}: verdict must be one of {VERDICTS}")
        if not entry.get("rfc") or not entry.get("why"):
            problems.append(f"{case_id}: an entry needs \"rfc\" and \"why\"")
    return differences, problems


def show_bytes(data, limit=600):
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + f"... ({len(data)} bytes)"


def report(case, fetchd, llhttp, message):
    print(f"FAIL {case['id']}: {message}")
    print(f"  source: {case['source']}:{case['line']}")
    print(f"  bytes:  {show_bytes(bytes.fromhex(case['input_hex']))}")
    print(f"  fetchd: {json.dumps(fetchd, ensure_ascii=False)}")
    print(f"  llhttp: {json.dumps(llhttp, ensure_ascii=False)}")


def check(cases, results, differences):
    """Compares every case; returns (failures, counts of agreeing and explained cases)."""
    failures = 0
    counts = {"agree": 0, **{verdict: 0 for verdict in VERDICTS}}
    for case in cases:
        fetchd, llhttp = fetchd_view(results[case["id"]]), llhttp_view(case)
        fields = differing_fields(fetchd, llhttp)
        entry = differences.get(case["id"])
        if not fields and entry is None:
            counts["agree"] += 1
            continue
        if not fields:
            failures += 1
            report(case, fetchd, llhttp, "listed in differences.json but fetchd and llhttp now "
                   "agree: remove the entry")
            continue
        if entry is None:
            failures += 1
            report(case, fetchd, llhttp, f"unexplained difference in {', '.join(fields)}: "
                   "fix fetchd or explain it in differences.json")
            continue
        counts[entry["verdict"]] += 1
        if entry["verdict"] == "fetchd wrong":
            failures += 1
            report(case, fetchd, llhttp, f"known fetchd bug ({entry['rfc']}): {entry['why']}")
    return failures, counts


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    differences, problems = load_differences()
    for problem in problems:
        print(f"FAIL differences.json: {problem}")
    unknown = sorted(set(differences) - {case["id"] for case in cases})
    for case_id in unknown:
        print(f"FAIL differences.json: no case {case_id} in {CASES_FILE.name}")
    inputs = {case["id"]: (bytes.fromhex(case["input_hex"]), case.get("head", False))
              for case in cases}
    results = run_driver(argv[1], inputs)
    failures, counts = check(cases, results, differences)
    failures += len(problems) + len(unknown)
    summary = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
    print(f"{len(cases)} llhttp cases: {summary}; {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
