"""Summarise a schemathesis NDJSON report: operations, examples, 5xx answers, violations.

    python tools/schemathesis_summary.py var/schemathesis/report-*.ndjson

Exits 1 when any answer was a 5xx or any check failed (a schema violation: an undocumented
status, a body or header the schema does not describe, a wrong content type).
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def summarise(paths: list[str]) -> dict:
    operations: set[str] = set()
    cases = 0
    server_errors = 0
    violations: Counter[tuple[str, str]] = Counter()
    for line in _lines(paths):
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        recorder = event["recorder"]
        operations.add(recorder["label"])
        cases += len(recorder.get("cases", {}))
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response") or {}
            if int(response.get("status_code") or 0) >= 500:
                server_errors += 1
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check["status"] == "failure" and check["name"] != "not_a_server_error":
                    violations[(recorder["label"], check["name"])] += 1
    return {
        "operations": len(operations),
        "examples": cases,
        "server_errors": server_errors,
        "violations": sum(violations.values()),
        "by_operation": violations,
    }


def _lines(paths: list[str]):
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            yield from lines


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    figures = summarise(argv[1:])
    print(
        f"schemathesis: {figures['operations']} operations, {figures['examples']} examples, "
        f"{figures['server_errors']} 5xx, {figures['violations']} schema violations"
    )
    for (label, check), count in sorted(figures["by_operation"].items()):
        print(f"  {label}: {check} x{count}")
    return 1 if figures["server_errors"] or figures["violations"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
