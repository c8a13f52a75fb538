"""Pass 1 over a SARIF log: check its structure and collect each run's metadata.

It walks the ijson event stream, keeps what results refer to (tool and rules,
`originalUriBaseIds`, `invocations`, `artifacts`) and only counts results, skipping their
contents, so key order inside a run does not matter (Semgrep writes `results` before `tool`).
Errors: invalid or truncated JSON, a log that is not an object, no "runs", runs not an array,
zero runs, a "version" other than "2.1.0" (or none), a run without `tool.driver.name`, and a
result that is not an object fail the whole file with a ParseError naming the pointer.
`ParseResult.tool_name`/`tool_version` are the first run's (`version`, else
`semanticVersion`).
"""

from __future__ import annotations

from typing import Any

from .._common import JsonEvents, as_str, event_type_name, pointer, type_name
from ..base import ParseResult, ReportTarget
from .rules import bad_level, rule_from
from .run import Run, ToolComponent
from .severity import LEVEL_SEVERITY
from .taxonomy import canonical_tool

SARIF_VERSION = "2.1.0"


class RunScanner:
    """Reads one SARIF log's events into its runs' metadata (see the module docstring)."""

    def __init__(self, src: JsonEvents, result: ParseResult) -> None:
        self.src = src
        self.result = result

    def runs(self) -> list[Run]:
        """Every run of the log, each with its metadata and result count."""
        src = self.src
        event, _ = src.next()
        if event != "start_map":
            raise src.error(f"a SARIF log must be a JSON object, got {event_type_name(event)}")
        version: Any = None
        runs: list[Run] | None = None
        for key in src.members():
            event, value = src.next()
            src.where = pointer(key)
            if key == "version":
                version = src.value(event, value)
                self._check_version(version)
            elif key == "runs":
                if runs is not None:
                    raise src.error('the SARIF log has two "runs" keys')
                if event != "start_array":
                    raise src.error(f"runs must be an array, got {event_type_name(event)}")
                runs = [self._run(src, i, event) for i, (event, _) in enumerate(src.elements())]
            else:
                src.skip(event)
        src.end()
        if version is None:
            raise src.error(f'SARIF log has no "version"; expected "{SARIF_VERSION}"')
        if runs is None:
            raise src.error('not a SARIF log: it has no "runs" array')
        if not runs:
            raise src.error("SARIF has no runs", pointer("runs"))
        return runs

    def _check_version(self, version: Any) -> None:
        if version != SARIF_VERSION:
            raise self.src.error(
                f"unsupported SARIF version {version!r}; only {SARIF_VERSION} is supported",
                pointer("version"),
            )

    def _run(self, src: JsonEvents, index: int, event: str) -> Run:
        run = Run(index=index)
        src.where = run.where
        if event != "start_map":
            raise src.error(f"a run must be a JSON object, got {event_type_name(event)}")
        for key in src.members():
            event, value = src.next()
            src.where = pointer("runs", index, key)
            if key == "tool":
                self._tool(run, event)
            elif key == "originalUriBaseIds":
                run.bases = self._bases(src.value(event, value))
            elif key == "invocations":
                self._invocations(run, event)
            elif key == "artifacts":
                self._artifacts(run, event)
            elif key == "results":
                self._count_results(run, event)
            elif key == "automationDetails":
                # The stream's target: the first run's category (apps/findings/targets.py).
                details = src.value(event, value)
                automation_id = details.get("id") if isinstance(details, dict) else None
                if isinstance(automation_id, str) and self.result.target is None:
                    self.result.target = ReportTarget("sarif", automation_id)
            else:
                src.skip(event)
        if run.driver is None:
            raise src.error("run has no tool.driver", run.where)
        return run

    def _count_results(self, run: Run, event: str) -> None:
        """Pass 1 only checks that each result is an object and counts them."""
        src = self.src
        if event == "null":
            return
        if event != "start_array":
            raise src.error(f"results must be an array, got {event_type_name(event)}")
        base = pointer("runs", run.index, "results")
        for first, _ in src.elements():
            src.where = f"{base}/{run.count}"
            if first != "start_map":
                raise src.error(f"a result must be a JSON object, got {event_type_name(first)}")
            src.skip(first)
            run.count += 1

    def _tool(self, run: Run, event: str) -> None:
        src = self.src
        if event != "start_map":
            raise src.error(f"tool must be an object, got {event_type_name(event)}")
        for key in src.members():
            event, _ = src.next()
            if key == "driver":
                run.driver = self._component(event, pointer("runs", run.index, "tool", "driver"))
            elif key == "extensions":
                if event != "start_array":
                    raise src.error(
                        f"tool.extensions must be an array, got {event_type_name(event)}"
                    )
                for i, (event, _) in enumerate(src.elements()):
                    where = pointer("runs", run.index, "tool", "extensions", i)
                    run.extensions.append(self._component(event, where))
            else:
                src.skip(event)
        if run.driver is None or not run.driver.name:
            raise src.error("tool.driver.name is missing", pointer("runs", run.index, "tool"))
        run.tool = canonical_tool(run.driver.name)
        if run.index == 0:
            self.result.tool_name = run.tool
            self.result.tool_version = run.driver.version

    def _component(self, event: str, where: str) -> ToolComponent:
        src = self.src
        if event != "start_map":
            raise src.error(
                f"a toolComponent must be an object, got {event_type_name(event)}", where
            )
        component = ToolComponent()
        version = semantic = ""
        for key in src.members():
            event, value = src.next()
            if key == "rules" and event == "start_array":
                for i, (event, value) in enumerate(src.elements()):
                    rule_where = f"{where}/rules/{i}"
                    src.where = rule_where
                    component.add(
                        rule_from(src.value(event, value), rule_where, self.result.skipped)
                    )
            elif key in ("name", "version", "semanticVersion"):
                text = as_str(src.value(event, value))
                if key == "name":
                    component.name = text
                elif key == "version":
                    version = text
                else:
                    semantic = text
            else:
                src.skip(event)
        component.version = version or semantic
        return component

    def _bases(self, raw: Any) -> dict[str, tuple[str, str]]:
        if not isinstance(raw, dict):
            raise self.src.error(f"originalUriBaseIds must be an object, got {type_name(raw)}")
        bases: dict[str, tuple[str, str]] = {}
        for name, location in raw.items():
            if isinstance(location, dict) and isinstance(location.get("uri"), str):
                parent = location.get("uriBaseId")
                bases[name] = (location["uri"], parent if isinstance(parent, str) else "")
        return bases

    def _invocations(self, run: Run, event: str) -> None:
        src = self.src
        if event != "start_array":
            src.skip(event)
            return
        for n, (first, _) in enumerate(src.elements()):
            if first != "start_map":
                src.skip(first)
                continue
            for key in src.members():
                member, value = src.next()
                if key in ("workingDirectory", "ruleConfigurationOverrides"):
                    where = pointer("runs", run.index, "invocations", n, key)
                    self._invocation_field(run, key, src.value(member, value), where)
                else:
                    src.skip(member)

    def _invocation_field(self, run: Run, key: str, value: Any, where: str) -> None:
        if key == "workingDirectory":
            uri = value.get("uri") if isinstance(value, dict) else None
            if isinstance(uri, str):
                run.working_dirs.append(uri)
            return
        for i, override in enumerate(value if isinstance(value, list) else ()):
            if not isinstance(override, dict):
                continue
            descriptor, config = override.get("descriptor"), override.get("configuration")
            level = config.get("level") if isinstance(config, dict) else None
            if not isinstance(level, str) or level not in LEVEL_SEVERITY:
                if level is not None:  # an object, an array, "critical": a warning, not a 500
                    at = f"{where}/{i}/configuration/level"
                    self.result.skipped.append(bad_level(level, at))
                continue
            if not isinstance(descriptor, dict):
                continue
            if isinstance(descriptor.get("id"), str):
                run.overrides[descriptor["id"]] = level
            elif isinstance(descriptor.get("index"), int):
                run.index_overrides[descriptor["index"]] = level

    def _artifacts(self, run: Run, event: str) -> None:
        src = self.src
        if event != "start_array":
            src.skip(event)
            return
        for first, _ in src.elements():
            uri = base = ""
            if first != "start_map":
                src.skip(first)
                run.artifacts.append((uri, base))
                continue
            for key in src.members():
                member, value = src.next()
                if key != "location":
                    src.skip(member)
                    continue
                location = src.value(member, value)
                if isinstance(location, dict):
                    uri = as_str(location.get("uri"))
                    base = as_str(location.get("uriBaseId"))
            run.artifacts.append((uri, base))
