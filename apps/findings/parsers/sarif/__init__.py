"""SARIF 2.1.0 from any tool (CodeQL, Semgrep, Bandit, checkov, gitleaks, trivy, ...).

Streaming, in two passes over the stream (a non-seekable stream is first copied to a
temporary file, in memory up to 8 MiB). Pass 1 (`scan`) walks the ijson event stream: it
checks the structure, keeps each run's metadata (`run`) and only counts results. Pass 2
(`results`) builds the results one at a time with ijson's C builder and converts them with
their run's metadata. So a 100,000-result log is never held whole, and a truncated or
malformed file fails inside `parse()` before any finding is produced. Each finding carries its
own run's tool.

Each module documents the mapping rules it applies: `rules` (which rule a result names, the
title), `identity` (the rule and identity of a result without a rule id), `taxonomy` (tool,
finding kind, CWEs, vulnerability ids), `severity` (severity, SARIF result kinds,
confidence), `locations` (paths, regions, source roots), `results` (message, fingerprints,
suppressions, secrets, lost and suppressed results) and `fields` (JSON type errors).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from .._common import JsonEvents, iter_items, json_head, primed, rewindable
from ..base import NormalizedFinding, Parser, ParseResult
from .fields import FORMAT
from .results import ResultConverter
from .scan import RunScanner

_SCHEMA_HINT = re.compile(rb'"\$schema"\s*:\s*"[^"]*sarif', re.IGNORECASE)
_VERSION_HINT = re.compile(rb'"version"\s*:\s*"2\.1\.0"')
_RUNS_HINT = re.compile(rb'"runs"\s*:\s*\[')
_DRIVER_HINT = re.compile(rb'"driver"\s*:\s*\{')


class SarifParser(Parser):
    """SARIF 2.1.0 logs (absolute uris resolve through `self.paths`, see `locations`)."""

    format = FORMAT
    label = "SARIF 2.1.0"
    expects = "`runs` (with `version` 2.1.0 or a `tool.driver`)"
    priority = 10
    # Of an invocation, only these are read (scan.py); the rest (times, command line,
    # machine, exit code, notifications) changes with every run.
    unread = {
        ("runs", "*", "invocations", "*"): frozenset(
            {"workingDirectory", "ruleConfigurationOverrides"}
        )
    }

    @classmethod
    def detect(cls, head: bytes) -> bool:
        """A JSON object whose $schema names SARIF, or with "runs" plus version 2.1.0 or a
        tool driver (Bandit writes "runs" first and "version" last)."""
        if not json_head(head).startswith(b"{"):
            return False
        if _SCHEMA_HINT.search(head):
            return True
        return bool(
            _RUNS_HINT.search(head) and (_VERSION_HINT.search(head) or _DRIVER_HINT.search(head))
        )

    def parse(self, stream: BinaryIO) -> ParseResult:
        result = ParseResult(format=FORMAT)
        result.findings = primed(self._findings(stream, result))
        return result

    def _findings(self, stream: BinaryIO, result: ParseResult) -> Iterator[NormalizedFinding]:
        """Pass 1 checks the structure and collects each run's metadata, counting results;
        pass 2 builds the results one at a time (in C) and converts them."""
        source, start = rewindable(stream)
        try:
            runs = RunScanner(JsonEvents(source, FORMAT), result).runs()
            source.seek(start)
            results = iter_items(source, "runs.item.results.item", FORMAT)
            converter = ResultConverter(result, self.paths)
            for run in runs:
                yield from converter.run_findings(run, results)
        finally:
            if source is not stream:
                source.close()
