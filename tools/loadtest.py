#!/usr/bin/env python3
"""Run the FixOps load test: gunicorn + Celery on PostgreSQL and Redis, driven by Locust.

    make load [USERS=50,100,200,400,1000] [DURATION=90] [WEB_WORKERS=4]
    .venv/bin/python tools/loadtest.py --users 50,100 --duration 60 --out var/loadtest/x

Steps: create the database (`--database`, dropped and created again unless --reuse-data),
migrate, sync_schedules, generate a small scale dataset and issue tokens over its tenants
(tests/load/prepare.py); start gunicorn (`-c python:fixops.gunicorn_conf`, --web-workers
sync workers, as the image runs it) and one Celery worker with embedded beat
(--worker-concurrency); then for each user count a headless Locust run (tests/load/
locustfile.py) of --duration seconds after spawning at --spawn-rate. For each step it prints
p50/p95/p99 (over the requests answered after all users were in, 429s left out), requests
per second, the error rate (429s reported apart: throttling is the server saying no on
purpose) and where the machine's CPU went: gunicorn, the Celery worker, the PostgreSQL
backends of this database, Locust itself, and everything else on the machine (other
PostgreSQL processes, Redis, other people's work), read from /proc through psutil while the
step runs. Figures are printed and written to <out>/report.json and report.txt, never
judged: the targets (1,000 users, p95 < 1 s, errors < 0.1 %) are printed beside them.

Runs against the local PostgreSQL (`--pg`, default postgres@127.0.0.1:5432) and Redis
(`--redis`, default redis://127.0.0.1:6379, databases 11 for the broker and 12 for the
throttle cache). The stack runs with DEBUG off, as production does, with throwaway secrets.
It stops only the processes it started (their process groups).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psutil
import psycopg
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TARGET = {"users": 1000, "p95_ms": 1000, "error_rate": 0.001}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(args, workdir: Path) -> dict[str, str]:
    signing_key = workdir / "evidence-signing.pem"
    if not signing_key.exists():
        signing_key.write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        signing_key.chmod(0o600)

    redis = args.redis.rstrip("/")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fixops.settings.base",
        "FIXOPS_ENV": "development",
        "DEBUG": "false",  # production behaviour (no query log), with the secrets below
        **_throwaway_secrets(workdir),
        "DATABASE_URL": f"{args.pg.rstrip('/')}/{args.database}",
        "CELERY_BROKER_URL": f"{redis}/{args.broker_db}",
        "CACHE_URL": f"rediscache://{redis.split('://', 1)[1]}/{args.cache_db}",
        "FIXOPS_EVIDENCE_SIGNING_KEY": str(signing_key),
        "FIXOPS_VAR_DIR": str(workdir / "var"),
        "FIXOPS_INGEST_ASYNC_BYTES": str(args.async_bytes),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    }


def _throwaway_secrets(workdir: Path) -> dict[str, str]:
    """Keys of this run's test database, kept beside it so --reuse-data reads what an earlier
    run encrypted (evidence, integration credentials)."""
    path = workdir / "secrets.json"
    if not path.exists():
        path.write_text(
            json.dumps(
                {
                    "SECRET_KEY": "loadtest-" + os.urandom(24).hex(),
                    "FIXOPS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                }
            )
        )
        path.chmod(0o600)
    return json.loads(path.read_text())


def run(cmd: list[str], env: dict, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(  # noqa: S603 - our own commands
            cmd, check=False, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode:
        sys.exit(f"loadtest: {' '.join(cmd[:4])} failed ({done.returncode}); see {log}")


def recreate_database(args, env: dict, log: Path) -> None:
    with psycopg.connect(f"{args.pg.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')


@contextmanager
def started(name: str, cmd: list[str], env: dict, log: Path):
    """A process in its own group, stopped (group SIGTERM, then SIGKILL) on the way out."""
    out = log.open("a")
    proc = subprocess.Popen(  # noqa: S603
        cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        out.close()


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"loadtest: {url} never answered: the process exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"loadtest: {url} did not answer within {timeout:.0f} s")


# --- CPU split ---------------------------------------------------------------------------------


class WaitSampler:
    """What the load-test database's active backends wait on, sampled every second from
    pg_stat_activity: backend-seconds per wait (`Lock:tuple`, `Lock:transactionid`, `IO:...`;
    `running` when not waiting). Lock waits that add up to many seconds name the contention."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn, self.database = dsn, database
        self.seconds: dict[str, int] = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join()

    def _loop(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop_event.wait(1.0):
                    rows = conn.execute(
                        "SELECT coalesce(wait_event_type || ':' || wait_event, 'running'), "
                        "count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                        "AND pid <> pg_backend_pid() GROUP BY 1",
                        [self.database],
                    ).fetchall()
                    for wait, count in rows:
                        self.seconds[wait] = self.seconds.get(wait, 0) + count
        except psycopg.Error as exc:  # a figure lost, not the run
            self.seconds["sampler failed: " + type(exc).__name__] = 0

    def top(self, n: int = 6) -> dict[str, int]:
        return dict(sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n])


class CpuSampler:
    """CPU seconds per group while a step runs: each process's user+system time is read every
    second and the last reading kept, so processes that come and go (PostgreSQL backends)
    count too, up to the second before they end. `other` is the machine's busy time (from
    /proc/stat) not accounted for by the groups."""

    def __init__(self, groups: dict[str, callable]) -> None:
        self.groups = groups  # name -> () -> list of psutil.Process
        self.first: dict[tuple, float] = {}
        self.last: dict[tuple, float] = {}
        self.owner: dict[tuple, str] = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self.busy_start = _busy_seconds()
        self.wall_start = time.monotonic()
        self.load_start = os.getloadavg()
        self._sample(initial=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join()
        self._sample()
        self.busy = _busy_seconds() - self.busy_start
        self.wall = time.monotonic() - self.wall_start
        self.load_end = os.getloadavg()

    def _loop(self) -> None:
        while not self.stop_event.wait(1.0):
            self._sample()

    def _sample(self, initial: bool = False) -> None:
        for name, find in self.groups.items():
            for proc in find():
                try:
                    key = (proc.pid, proc.create_time())
                    times = proc.cpu_times()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                used = times.user + times.system
                # A process seen for the first time mid-step started during it: from zero.
                self.first.setdefault(key, used if initial else 0.0)
                self.last[key] = used
                self.owner[key] = name

    def split(self) -> dict:
        seconds = {name: 0.0 for name in self.groups}
        for key, used in self.last.items():
            seconds[self.owner[key]] += used - self.first.get(key, 0.0)
        seconds["other"] = max(self.busy - sum(seconds.values()), 0.0)
        cores = psutil.cpu_count() or 1
        return {
            "wall_seconds": round(self.wall, 1),
            "cores": cores,
            "busy_share": round(self.busy / (self.wall * cores), 3),
            "cpu_seconds": {k: round(v, 1) for k, v in seconds.items()},
            "share_of_machine": {k: round(v / (self.wall * cores), 3) for k, v in seconds.items()},
            "loadavg_start": [round(x, 2) for x in self.load_start],
            "loadavg_end": [round(x, 2) for x in self.load_end],
        }


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal


def tree(proc: subprocess.Popen):
    def find() -> list:
        try:
            root = psutil.Process(proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    return find


def postgres_backends(database: str):
    """The server processes serving this database (their title names it)."""

    def find() -> list:
        found = []
        for p in psutil.process_iter(["name", "cmdline"]):
            cmd = " ".join(p.info.get("cmdline") or ())
            if cmd.startswith("postgres:") and f" {database} " in f"{cmd} ":
                found.append(p)
        return found

    return find


# --- one step ----------------------------------------------------------------------------------


def run_step(args, *, env: dict, base: str, users: int, out: Path, groups: dict) -> dict:
    step_dir = out / f"users-{users}"
    step_dir.mkdir(parents=True, exist_ok=True)
    summary_path = step_dir / "summary.json"
    spawn_rate = args.spawn_rate or max(users / 10, 1)
    ramp = users / spawn_rate
    cmd = [
        PY, "-m", "locust", "-f", str(ROOT / "tests/load/locustfile.py"), "--headless",
        "--host", base, "--users", str(users), "--spawn-rate", f"{spawn_rate:g}",
        "--run-time", f"{int(ramp + args.duration)}s", "--stop-timeout", "10",
        "--csv", str(step_dir / "locust"), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    locust_env = {
        **env,
        "LOADTEST_TOKENS": str(out / "tokens.json"),
        "LOADTEST_SUMMARY": str(summary_path),
    }
    print(f"step {users} users: spawn {spawn_rate:g}/s ({ramp:.0f} s), then {args.duration} s")
    with started("locust", cmd, locust_env, step_dir / "locust.log") as proc:
        sampler = CpuSampler({**groups, "locust": tree(proc)})
        # the CPU split covers the steady phase, like the latencies
        time.sleep(min(ramp, args.duration))
        waits = WaitSampler(f"{args.pg.rstrip('/')}/postgres", args.database)
        with sampler, waits:
            window = (time.time(), None)
            proc.wait(timeout=ramp + args.duration + 120)
            window = (window[0], time.time())
    if not summary_path.exists():
        sys.exit(f"loadtest: locust wrote no summary; see {step_dir / 'locust.log'}")
    result = json.loads(summary_path.read_text())
    result["users"] = users
    result["cpu"] = sampler.split()
    result["postgres_waits"] = waits.top()
    result["in_worker_ms"] = in_worker(out / "access.log", *window)
    server = sum(result["cpu"]["cpu_seconds"][k] for k in ("gunicorn", "worker", "postgres"))
    # CPU the stack spent per request (gunicorn + worker + PostgreSQL): the figure that holds
    # when other work shares the machine, unlike the latencies.
    result["server_cpu_ms_per_request"] = round(1000 * server / max(result["requests"], 1), 1)
    return result


ACCESS = re.compile(r"\[(?P<t>[^\]]+)\] \"(?P<m>\S+) (?P<u>\S+)\" (?P<s>\d+) (?P<us>\d+)")


def in_worker(log: Path, start: float, end: float) -> dict:
    """Percentiles of the time gunicorn's workers spent per request (the access log's %(D)s)
    between `start` and `end`; Locust's figures minus these are time queued for a worker."""
    spent = []
    for text in log.read_text().splitlines() if log.exists() else ():
        match = ACCESS.match(text)
        if match is None:
            continue
        moment = datetime.strptime(match["t"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
        if start - 1 <= moment <= end and match["s"] != "429":
            spent.append(int(match["us"]) / 1000)
    if not spent:
        return {"count": 0, "p50": None, "p95": None, "p99": None}
    spent.sort()

    def at(q: float) -> float:
        return round(spent[min(len(spent) - 1, int(q * len(spent)))], 1)

    return {"count": len(spent), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99)}


def line(result: dict) -> str:
    lat = result["latency_ms"]
    cpu = result["cpu"]["share_of_machine"]

    def ms(v):
        return "-" if v is None else f"{v:.0f}"

    return (
        f"{result['users']:>6} {ms(lat['p50']):>7} {ms(lat['p95']):>7} {ms(lat['p99']):>7} "
        f"{result['rps']:>7.1f} {100 * result['error_rate']:>7.3f} {result['throttled_429']:>6} "
        f"{result['status_5xx']:>5} {result['server_cpu_ms_per_request']:>7.1f}  "
        + " ".join(f"{k} {100 * v:.0f}%" for k, v in cpu.items())
        + f"  load {result['cpu']['loadavg_start'][0]:.1f}->{result['cpu']['loadavg_end'][0]:.1f}"
    )


HEADER = (
    " users  p50 ms  p95 ms  p99 ms     rps  err %    429s   5xx  cpu/req  CPU share of the "
    "machine (gunicorn, worker, postgres, locust, other)"
)


def report(args, results: list[dict], out: Path, setup: dict) -> str:
    crossed = next((r["users"] for r in results if (r["latency_ms"]["p95"] or 0) >= 1000), None)
    lines = [
        f"FixOps load test {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB "
        f"(gunicorn {args.web_workers} workers x {args.web_threads} threads, Celery worker "
        f"-c {args.worker_concurrency} with beat, PostgreSQL, Redis and Locust on the same "
        "machine)",
        f"data: {setup['tenants']} tenants, big tenant {setup['findings']} findings, others "
        f"{setup['other_findings']}; steady phase {args.duration} s per step",
        f"target: {TARGET['users']} users, p95 < {TARGET['p95_ms']} ms, "
        f"errors < {100 * TARGET['error_rate']:.1f} %",
        HEADER,
        *(line(r) for r in results),
        (
            f"p95 reached 1 s at {crossed} users"
            if crossed
            else "p95 stayed under 1 s at every step"
        ),
    ]
    if results:
        # A projection, labelled as one: the machine's cores spent on the stack alone at the
        # measured CPU per request and requests per user (the load generator moved elsewhere).
        per_user = max(r["rps"] / r["users"] for r in results)
        cpu_ms = min(r["server_cpu_ms_per_request"] for r in results)
        if cpu_ms > 0 and per_user > 0:
            rps = 1000 * psutil.cpu_count() / cpu_ms
            lines.append(
                f"projection: at {cpu_ms:.1f} ms of server CPU per request and "
                f"{per_user:.3f} requests/s per user, these {psutil.cpu_count()} cores saturate "
                f"at ~{rps:.0f} requests/s, ~{rps / per_user:.0f} users (all cores busy; "
                "p95 grows before that)"
            )
    for r in results:
        w = r["in_worker_ms"]
        lines.append(
            f"in gunicorn's workers at {r['users']} users (the rest is queueing): p50 {w['p50']} "
            f"p95 {w['p95']} p99 {w['p99']} ms over {w['count']} requests; PostgreSQL "
            f"backend-seconds: {r['postgres_waits']}"
        )
    for r in results:
        if r["error_kinds"]:
            lines.append(f"errors at {r['users']} users: {r['error_kinds']}")
    text = "\n".join(lines)
    (out / "report.txt").write_text(text + "\n")
    (out / "report.json").write_text(
        json.dumps({"setup": setup, "target": TARGET, "steps": results}, indent=1)
    )
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="50,100,200,400,1000", help="comma-separated steps")
    parser.add_argument("--spawn-rate", type=float, default=0, help="users/s (default users/10)")
    parser.add_argument("--duration", type=int, default=90, help="steady seconds per step")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument(
        "--web-threads", type=int, default=1,
        help="gunicorn --threads (above 1: the gthread worker); 1 is the image's sync worker",
    )  # fmt: skip
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--database", default="fixops_load")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--broker-db", type=int, default=11)
    parser.add_argument("--cache-db", type=int, default=12)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--applications", type=int, default=400)
    parser.add_argument("--findings", type=int, default=20_000, help="the big tenant's")
    parser.add_argument("--other-findings", type=int, default=500)
    parser.add_argument(
        "--async-bytes", type=int, default=1024 * 1024,
        help="FIXOPS_INGEST_ASYNC_BYTES: reports above it go to the worker (large ones do)",
    )  # fmt: skip
    parser.add_argument(
        "--reuse-data", action="store_true",
        help="with --out of an earlier run: keep its database, tokens and keys",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="default var/loadtest/<time>")
    return parser.parse_args(argv)


def prepare(args, *, env: dict, out: Path, log: Path) -> float:
    """Database, schema, schedules, dataset and tokens; returns the seconds it took."""
    mark = time.perf_counter()
    if args.reuse_data and (out / "tokens.json").exists():
        return 0.0
    print(f"preparing {args.database} (migrate, dataset, tokens); log in {log}")
    recreate_database(args, env, log)
    run([PY, "manage.py", "migrate", "--noinput"], env, log)
    run([PY, "manage.py", "sync_schedules"], env, log)
    run(
        [PY, "-m", "tests.load.prepare", "--out", str(out / "tokens.json"), "--tenants",
         str(args.tenants), "--applications", str(args.applications), "--findings",
         str(args.findings), "--other-findings", str(args.other_findings)],
        env, log,
    )  # fmt: skip
    return time.perf_counter() - mark


def serve_and_load(args, *, env: dict, out: Path, log: Path, steps: list[int]) -> list[dict]:
    """gunicorn and the worker up, then one Locust run per step; both stopped at the end."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web_metrics, worker_metrics = out / "metrics/web", out / "metrics/worker"
    web_metrics.mkdir(parents=True, exist_ok=True)
    worker_metrics.mkdir(parents=True, exist_ok=True)
    gunicorn = [
        PY, "-m", "gunicorn", "fixops.wsgi:application", "-c", "python:fixops.gunicorn_conf",
        "--bind", f"127.0.0.1:{port}", "--workers", str(args.web_workers),
        "--threads", str(args.web_threads),
        "--backlog", "2048", "--timeout", "120", "--graceful-timeout", "10",
        # time inside a worker per request (µs), beside Locust's time seen by the client: the
        # difference is time queued for a free worker
        "--access-logfile", str(out / "access.log"),
        "--access-logformat", '%(t)s "%(m)s %(U)s" %(s)s %(D)s',
    ]  # fmt: skip
    worker = [
        PY, "-m", "celery", "-A", "fixops", "worker", "-B", "--loglevel", "WARNING",
        "--concurrency", str(args.worker_concurrency), "-n", f"loadtest-{port}@%h",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    results: list[dict] = []
    with (
        started("gunicorn", gunicorn, {**env, "PROMETHEUS_MULTIPROC_DIR": str(web_metrics)}, log)
        as web,
        started("worker", worker, {**env, "PROMETHEUS_MULTIPROC_DIR": str(worker_metrics)}, log)
        as celery,
    ):  # fmt: skip
        wait_http(f"{base}/healthz", web)
        groups = {
            "gunicorn": tree(web),
            "worker": tree(celery),
            "postgres": postgres_backends(args.database),
        }
        for users in steps:
            results.append(run_step(args, env=env, base=base, users=users, out=out, groups=groups))
            print(HEADER)
            print(line(results[-1]))
            if web.poll() is not None or celery.poll() is not None:
                print("loadtest: gunicorn or the worker exited; stopping", file=sys.stderr)
                break
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    steps = [int(u) for u in args.users.split(",") if u.strip()]
    out = (args.out or ROOT / "var/loadtest" / time.strftime("%Y%m%dT%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = stack_env(args, out)
    log = out / "stack.log"
    setup = {
        "tenants": args.tenants,
        "applications": args.applications,
        "findings": args.findings,
        "other_findings": args.other_findings,
        "web_workers": args.web_workers,
        "web_threads": args.web_threads,
        "worker_concurrency": args.worker_concurrency,
        "async_bytes": args.async_bytes,
        "duration": args.duration,
    }
    setup["prepare_seconds"] = round(prepare(args, env=env, out=out, log=log), 1)
    results = serve_and_load(args, env=env, out=out, log=log, steps=steps)
    print()
    print(report(args, results, out, setup))
    print(f"report: {out / 'report.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
