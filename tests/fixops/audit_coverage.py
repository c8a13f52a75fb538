"""Find the services that change state and whether each writes an audit row, by reading the code.

No hand-kept list of services: every module of apps/ and fixops/ (but migrations, settings,
parsers and the API views, which write nothing themselves) is parsed, and each function or
method is classified:

- it *writes* when its body saves, creates, updates or deletes rows (ORM `save`, `create`,
  `delete`, `bulk_*`, `get_or_create`, `update_or_create`, a queryset's `update`), uses the bulk
  helpers (`insert_rows`, `update_rows`, `update_by_ids`: COPY and bulk UPDATE), drives the
  findings writer, runs INSERT/UPDATE/DELETE/COPY SQL, or calls a function that writes;
- it *audits* when it calls `audit_record`/`audit_record_many`, or a function that audits.

Calls are resolved inside the module (functions, `self.` methods) and across modules through
`from x import y` imports, to a fixpoint. A public function that writes and does not audit is
a finding, unless ALLOWLIST names it with the reason its writes are not a state change people
care about. `python -m tests.fixops.audit_coverage` prints the figure.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUDIT_CALLS = {"audit_record", "audit_record_many"}
ALWAYS_WRITES = {
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "insert_rows",
    "update_rows",
    "update_by_ids",
    "delete_in_batches",
}
ROW_WRITES = {"save", "delete", "create"}
# The findings writer's mutating methods (apps/findings/writer.py), called on a `writer`.
WRITER_METHODS = {
    "upsert",
    "occurrences",
    "adopt",
    "retract",
    "set_status",
    "risk",
    "reclassify",
}
QUERYSET_HINTS = {"objects", "filter", "exclude", "select_for_update", "all", "order_by"}
NOT_ROWS = {"cache", "session", "storage", "client", "requests", "image", "connector", "archive"}
SQL_WRITES = ("INSERT ", "UPDATE ", "DELETE ", "COPY ")

# Writes that are not state changes people care about, each with its reason: they need no
# audit row, and a caller doing nothing else is not mutating. Keys are "module:qualname";
# keep it short, and never list a service people act through.
ALLOWLIST: dict[str, str] = {
    "fixops.platform.http.breaker:guarded": "circuit-breaker counters of outbound calls",
    "fixops.platform.http.breaker:record_failure": "circuit-breaker counters",
    "fixops.platform.http.breaker:record_success": "circuit-breaker counters",
    "fixops.platform.http.breaker:take_probes": "circuit-breaker counters",
    "fixops.platform.http.breaker:release_probe": "circuit-breaker counters",
    "fixops.services:heartbeat_record": "liveness heartbeat of the worker and beat",
    "fixops.platform.tracing:configure": "an OpenTelemetry resource (`Resource.create`), no row",
    "fixops.platform.events:emit": "the after-commit notice of a change its emitter audits",
    "fixops.platform.events:handle": "marks events handled (delivery bookkeeping)",
    "fixops.platform.events:handle_ids": "marks events handled (delivery bookkeeping)",
    "fixops.platform.events:sweep": "re-hands pending events over (delivery bookkeeping)",
    "fixops.platform.events:purge_handled": "retention of handled event rows",
    "apps.tenants.services:api_token_authenticate": "last_used_at, throttled bookkeeping",
    "apps.tenants.accounts.otp:totp_pending_device": (
        "an unconfirmed device that authenticates nothing; totp_confirm is audited"
    ),
    "apps.workspace.analytics.snapshot:refresh": (
        "derived analytics (AnalyticsSnapshot), recomputed from rows whose changes are audited"
    ),
    "apps.intel.feeds.status:feed_status_get": "feed download bookkeeping (FeedStatus)",
    "apps.intel.feeds.status:feed_attempt_record": "feed download bookkeeping (FeedStatus)",
    "apps.intel.feeds.status:feed_error_record": "feed download bookkeeping (FeedStatus)",
    "apps.intel.feeds.status:feed_unchanged_record": "feed download bookkeeping (FeedStatus)",
    "apps.intel.feeds.status:feed_success_record": (
        "feed download bookkeeping; the load it records is audited as feed.load"
    ),
    "apps.connectors.outbox:enqueue": (
        "the delivery queue of a change audited where it was made (decision.create, "
        "finding.batch, integration.sync); each message keeps its own attempt history"
    ),
    "apps.connectors.drain:claim": "outbox lease bookkeeping",
    "apps.advisory.services:usage_record": (
        "token and cost counters per provider per day; the advice that spent them is audited"
    ),
    "apps.connectors.drain:drain": "outbox delivery: attempts and outcomes per message",
    "apps.connectors.attempts:record": "outbox delivery: attempts and outcomes per message",
    "apps.connectors.attempts:apply": "outbox delivery: the vendor's reply as an external link",
    "apps.connectors.attempts:deliver_one": "outbox delivery: attempts and outcomes",
    "apps.findings.services:scan_start": "an import's progress marker; scan.import audits it",
    "apps.findings.scan_queue:scan_lease_renew": "lease bookkeeping of a claimed queued import",
    "apps.findings.scan_queue:scan_settle": (
        "clears the lease inside the import's transaction, which scan.import audits"
    ),
    "apps.findings.streams:streams_seen": "stream sightings of an import audited as scan.import",
    "apps.findings.streams:streams_pending": (
        "settles a stream's sightings inside an import audited as scan.import"
    ),
    "apps.findings.repeat:repeat": "a repeated scan's import, audited as scan.import",
    "apps.evidence.services:bundle_store": (
        "stores the write-once object of a bundle audited as evidence.bundle_create"
    ),
    "apps.evidence.services:bundles_store_pending": "retries bundle_store",
    "apps.intel.scoring:risk_refresh": (
        "derived risk columns; their causes (feed.load, scan.import, admin.change) are audited"
    ),
    "apps.evidence.checkpoints:audit_checkpoint": (
        "signs a chain's head; a row about it would move the head it pins"
    ),
    "apps.evidence.checkpoints:audit_checkpoint_all": "audit_checkpoint for every chain",
    "fixops.management.commands.sync_schedules:Command.handle": (
        "beat schedules declared in code (fixops/schedules.py), synced at deploy"
    ),
    "fixops.management.commands.sync_schedules:_schedule_fields": "the same sync",
}
# Building blocks whose callers audit: they need no audit row of their own, but a function
# calling one writes.
PRIMITIVES: dict[str, str] = {
    "fixops.platform.bulk:insert_rows": "COPY helper",
    "fixops.platform.bulk:update_by_ids": "bulk UPDATE helper",
    "fixops.platform.bulk:update_rows": "bulk UPDATE helper",
    "fixops.platform.bulk:delete_in_batches": "batched DELETE helper",
    "apps.findings.retention:scan_details_purge": "retention; apps.pipeline.retention audits",
    "apps.findings.retention:closed_occurrences_purge": "retention; the pipeline audits",
    "apps.connectors.retention:attempts_purge": "retention; the pipeline audits",
    "apps.connectors.retention:inbox_purge": "retention; the pipeline audits",
    "apps.intel.retention:intel_events_purge": "retention; the pipeline audits",
    "apps.tenants.retention:sessions_purge": "expired sessions (no tenant's state)",
    "fixops.platform.deletion:delete_or_conflict": "delete helper (409 on PROTECT)",
    "fixops.platform.http.breaker:reset": "closed by hand via integration_breaker_reset",
    "apps.findings.writer:FindingWriter.upsert": "the writer; finish() audits the batch",
    "apps.findings.writer:FindingWriter.occurrences": "the writer; finish() audits the batch",
    "apps.findings.writer:FindingWriter.adopt": "the writer; finish() audits the batch",
    "apps.findings.writer:FindingWriter.settle": (
        "the writer; sightings of the import or retirement that calls it, audited as such"
    ),
    "apps.findings.writer:FindingWriter.retract": "the writer; finish() audits the batch",
    "apps.findings.writer:FindingWriter.set_status": "the writer; finish() audits the batch",
    "apps.findings.writer:FindingWriter.risk": "the writer; finish() audits the batch",
    "apps.findings.writer:FindingWriter.assign": "the writer; finding_assign audits each",
    "apps.findings.writer:FindingWriter.reclassify": "the writer; finish() audits the batch",
    "apps.findings.sla:recompute": (
        "derived due_at; its callers (the writer, sla_policy_update) audit the cause"
    ),
    "apps.intel.feeds.epss:epss_load": "a feed loader; feed_refresh_detailed audits feed.load",
    "apps.intel.feeds.kev:kev_load": "a feed loader; feed_refresh_detailed audits feed.load",
    "apps.intel.feeds.osv:osv_feed_load": "a feed loader; feed_refresh_detailed audits",
    "apps.intel.feeds.osv:load_osv": "a feed loader; feed_refresh_detailed audits feed.load",
    "apps.intel.osv_store:osv_advisories_store": "part of the OSV feed loader",
    "apps.intel.osv_findings:write_matches": "writer calls of OSV matching, which finishes it",
    "apps.intel.osv_findings:retract_unmatched": "writer calls of OSV matching",
}
# Interfaces (tasks, admin, commands, views, auth backends) change state only through
# services: they are not counted as services, and a direct write in one is a finding.
INTERFACE_NAMES = {"tasks.py", "admin.py", "views.py", "authentication.py", "middleware.py"}


@dataclass
class Func:
    module: str
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    cls: str | None
    writes: list[str] = field(default_factory=list)  # why: "line N: .save()"
    direct: list[str] = field(default_factory=list)  # writes in its own body
    audits: bool = False
    audits_here: bool = False  # directly or through a helper of its own module
    interface: bool = False
    calls: set[str] = field(default_factory=set)  # resolved "module:qualname" keys

    @property
    def key(self) -> str:
        return f"{self.module}:{self.qualname}"

    @property
    def public(self) -> bool:
        parts = self.qualname.split(".")
        return not any(part.startswith("_") for part in parts)


def _chain(node: ast.AST) -> list[str]:
    """Names along an attribute/call chain: `A.objects.filter(x).update` -> [A, objects, filter]."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            names.append(node.id)
            return names[::-1]
        else:
            return names[::-1]


def _querysets(func: ast.AST) -> set[str]:
    """Local names bound to something that looks like a queryset."""
    names = {"rows", "qs", "queryset", "devices"}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if QUERYSET_HINTS & set(_chain(node.value)):
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _sql(node: ast.Call) -> str:
    for arg in node.args[:1]:
        for inner in ast.walk(arg):
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                return inner.value.upper()
    return ""


def _direct(func: ast.AST) -> tuple[list[str], bool]:
    """The writes a body makes itself, and whether it calls the audit log itself."""
    writes, audits = [], False
    querysets = _querysets(func)
    for node in ast.walk(func):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func
        name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if name in AUDIT_CALLS:
            audits = True
            continue
        receiver = _chain(callee.value) if isinstance(callee, ast.Attribute) else []
        why = f"line {node.lineno}: {'.'.join([*receiver, name])}()"
        method = isinstance(callee, ast.Attribute)
        if method and NOT_ROWS & set(receiver) and name not in ALWAYS_WRITES:
            continue
        if (
            name in ALWAYS_WRITES
            or (method and name in ROW_WRITES)
            or (
                method
                and name == "update"
                and bool(QUERYSET_HINTS & set(receiver) or set(receiver[-1:]) & querysets)
            )
            or (name in WRITER_METHODS and receiver and "writer" in receiver[-1].lower())
            or (name in ("execute", "copy", "copy_expert") and _sql(node).startswith(SQL_WRITES))
        ):
            writes.append(why)
    return writes, audits


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _skipped(path: Path) -> bool:
    """Not service code: migrations, settings, parsers (they write nothing), API views (a
    test keeps ORM calls out of them), models (the ORM itself) and vendor clients (HTTP)."""
    parts = set(path.parts)
    vendor = path.parts[:2] == ("apps", "connectors") and len(path.parts) > 3
    return (
        bool(parts & {"migrations", "settings", "parsers", "api", "tests", "models"})
        or path.name == "models.py"
        or vendor
    )


def _interface(module: str) -> bool:
    name = module.rsplit(".", 1)[-1] + ".py"
    return name in INTERFACE_NAMES or ".commands." in module or module.endswith(".sso.oidc")


def service_paths(root: Path = ROOT) -> list[Path]:
    return sorted(
        path
        for package in ("apps", "fixops")
        for path in (root / package).rglob("*.py")
        if not _skipped(path.relative_to(root))
    )


def analyse_sources(sources: dict[str, str]) -> dict[str, Func]:
    """Classify every function of `sources` ({module name: source text})."""
    funcs: dict[str, Func] = {}
    imports: dict[str, dict[str, str]] = {}
    for module, text in sources.items():
        tree = ast.parse(text)
        imported = imports.setdefault(module, {})
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    imported[alias.asname or alias.name] = f"{node.module}:{alias.name}"
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                funcs[f"{module}:{node.name}"] = Func(module, node.name, node, None)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        name = f"{node.name}.{item.name}"
                        funcs[f"{module}:{name}"] = Func(module, name, item, node.name)
    for func in funcs.values():
        func.direct, func.audits = _direct(func.node)
        func.audits = func.audits or func.qualname in AUDIT_CALLS
        func.audits_here = func.audits
        func.interface = _interface(func.module)
        # The audit row itself is not the state change a caller must account for.
        exempt = func.key in ALLOWLIST or func.module == "fixops.platform.audit"
        func.writes = [] if exempt else list(func.direct)
        local = _local_classes(func, imports[func.module])
        for node in ast.walk(func.node):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            candidates = []
            if isinstance(callee, ast.Name):
                candidates.append(f"{func.module}:{callee.id}")
                if callee.id in imports[func.module]:
                    candidates.append(imports[func.module][callee.id])
            elif isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name):
                owner = callee.value.id
                if owner in ("self", "cls") and func.cls:
                    candidates.append(f"{func.module}:{func.cls}.{callee.attr}")
                elif owner in local:
                    candidates.append(f"{local[owner]}.{callee.attr}")
                else:
                    candidates.append(f"{func.module}:{owner}.{callee.attr}")
                    target = imports[func.module].get(owner)
                    if target:  # an imported class or module
                        mod, _, name = target.partition(":")
                        candidates += [f"{target}.{callee.attr}", f"{mod}.{name}:{callee.attr}"]
            func.calls |= {key for key in candidates if key in funcs and key != func.key}
    changed = True
    while changed:
        changed = False
        for func in funcs.values():
            if func.key in ALLOWLIST or func.module == "fixops.platform.audit":
                continue
            for key in func.calls:
                callee = funcs[key]
                if callee.writes and not func.writes:
                    func.writes = [f"calls {key}"]
                    changed = True
                if callee.audits and not func.audits:
                    func.audits = changed = True
                if callee.audits_here and callee.module == func.module and not func.audits_here:
                    func.audits_here = changed = True
    return funcs


def _local_classes(func: Func, imported: dict[str, str]) -> dict[str, str]:
    """Local names whose class is known: `w = FindingWriter(...)`, `writer: FindingWriter`."""
    known: dict[str, str] = {}

    def resolve(name: str) -> str | None:
        target = imported.get(name)
        return target if target else f"{func.module}:{name}" if name[:1].isupper() else None

    args = func.node.args
    for arg in [*args.args, *args.kwonlyargs]:
        if isinstance(arg.annotation, ast.Name) and (key := resolve(arg.annotation.id)):
            known[arg.arg] = key
    for node in ast.walk(func.node):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and (key := resolve(node.value.func.id))
        ):
            known.update({t.id: key for t in node.targets if isinstance(t, ast.Name)})
    return known


def analyse(root: Path = ROOT) -> dict[str, Func]:
    return analyse_sources(
        {_module_name(path, root): path.read_text() for path in service_paths(root)}
    )


def mutating(funcs: dict[str, Func]) -> list[Func]:
    """The public service functions that change state (primitives and interfaces aside)."""
    return [
        func
        for func in funcs.values()
        if func.public and func.writes and not func.interface and func.key not in PRIMITIVES
    ]


def audited(func: Func) -> bool:
    """A service that writes in its own body audits there (or through a helper of its module:
    a call into another module that happens to audit does not cover its own write); one that
    writes only through other services is covered by theirs."""
    return func.audits_here if func.direct else func.audits


def unaudited(funcs: dict[str, Func]) -> list[str]:
    """Mutating services that do not audit, with why they count as writing."""
    return sorted(f"{func.key} ({func.writes[0]})" for func in mutating(funcs) if not audited(func))


def interface_writes(funcs: dict[str, Func]) -> list[str]:
    """Writes made directly in a task, admin, command or view instead of through a service."""
    return sorted(
        f"{func.key} ({func.direct[0]})"
        for func in funcs.values()
        if func.interface and func.direct and func.key not in ALLOWLIST
    )


def summary(funcs: dict[str, Func]) -> str:
    services = mutating(funcs)
    covered = [func for func in services if audited(func)]
    return (
        f"mutating services audited: {len(covered)}/{len(services)} "
        f"(allowlisted non-state writes: {len(ALLOWLIST)}, primitives: {len(PRIMITIVES)}, "
        f"interfaces writing directly: {len(interface_writes(funcs))})"
    )


if __name__ == "__main__":
    found = analyse()
    print(summary(found))  # noqa: T201
    for line in unaudited(found):
        print("  unaudited:", line)  # noqa: T201
    for line in interface_writes(found):
        print("  interface writes directly:", line)  # noqa: T201


ACTION = re.compile(r"^[a-z_]+\.[a-z_]+$")
NOT_ACTIONS = {"target_type", "target_id", "tenant", "actor", "before", "after", "changes"}


def audit_actions(root: Path = ROOT) -> dict[str, list[str]]:
    """Every audit action the code writes ({action: [module, ...]}): the string literals passed
    to an audit call or helper (`audit_record`, `_audit…`) other than as its target type or
    payload, given to any `action=` argument, or assigned to a variable named `action`."""
    found: dict[str, set[str]] = {}
    for path in service_paths(root):
        module = _module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                names = {t.id for t in node.targets if isinstance(t, ast.Name)}
                values = [node.value] if "action" in names else []
            elif isinstance(node, ast.Call):
                callee = node.func
                name = (
                    callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
                )
                values = [kw.value for kw in node.keywords if kw.arg == "action"]
                if "audit" in name:
                    values += [*node.args]
                    values += [kw.value for kw in node.keywords if kw.arg not in NOT_ACTIONS]
            else:
                continue
            for value in values:
                for inner in ast.walk(value):
                    if (
                        isinstance(inner, ast.Constant)
                        and isinstance(inner.value, str)
                        and ACTION.match(inner.value)
                    ):
                        found.setdefault(inner.value, set()).add(module)
    return {action: sorted(modules) for action, modules in sorted(found.items())}
