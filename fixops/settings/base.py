"""FixOps settings. Every knob is an environment variable with a safe default.

FIXOPS_ENV selects the defaults: `development` (the embedded `make run` stack) or
`production`. In production, or whenever DEBUG is off, secrets have no default: start-up
stops with a message naming the missing variable. The README lists every variable.
"""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from fixops.env import BASE_DIR, env, var_dir

FIXOPS_ENV = env.str("FIXOPS_ENV", default="development")
if FIXOPS_ENV not in ("development", "production"):
    raise ImproperlyConfigured(
        f"FIXOPS_ENV must be 'development' or 'production', not {FIXOPS_ENV!r}."
    )
IS_PRODUCTION = FIXOPS_ENV == "production"
DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
# Secrets are mandatory whenever the deployment could be reachable by others.
SECRETS_REQUIRED = IS_PRODUCTION or not DEBUG

VAR_DIR = var_dir()


def _secret(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if SECRETS_REQUIRED:
        raise ImproperlyConfigured(
            f"{name} is not set. FixOps refuses to start in production mode "
            f"(FIXOPS_ENV={FIXOPS_ENV}, DEBUG={DEBUG}) without it; see .env.example."
        )
    return dev_default


# Development defaults are deliberately marked insecure and are never used in production.
SECRET_KEY = _secret("SECRET_KEY", "django-insecure-fixops-development-only-key-do-not-deploy")
# Comma-separated Fernet keys; the first encrypts, all decrypt (MultiFernet rotation).
FIXOPS_ENCRYPTION_KEYS = [
    key.strip()
    for key in _secret(
        "FIXOPS_ENCRYPTION_KEYS", "ZGV2ZWxvcG1lbnQtb25seS1maXhvcHMta2V5LTAwMDA="
    ).split(",")
    if key.strip()
]

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "apps.workspace.apps.WorkspaceAdminConfig",  # django.contrib.admin, FixOps's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "djangosaml2",
    "fixops.platform.apps.PlatformConfig",
    "fixops.apps.FixOpsConfig",
    "apps.tenants",
    "apps.findings",
    "apps.intel",
    "apps.policies",
    "apps.evidence",
    "apps.connectors",
    "apps.advisory",
    "apps.pipeline",
    "apps.workspace.apps.WorkspaceConfig",
]

MIDDLEWARE = [
    # First: it times the whole stack, refusals by later middleware included.
    "fixops.platform.metrics.MetricsMiddleware",
    "fixops.platform.request_id.RequestIdMiddleware",
    # Each request starts unpinned from the primary (the read replica's write pin).
    "fixops.platform.dbrouter.UnitOfWorkMiddleware",
    "fixops.platform.api.chunked.ChunkedBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.tenants.middleware.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "djangosaml2.middleware.SamlSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.tenants.middleware.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-axes last: it turns a lockout raised during authenticate() into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fixops.urls"
WSGI_APPLICATION = "fixops.wsgi.application"
ASGI_APPLICATION = "fixops.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL (psycopg 3) in production and tests; SQLite for the embedded default.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'fixops.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer and
    # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Optional read replica (a PostgreSQL streaming standby): only reads marked replica-safe go
# there (analytics, dashboard), never inside a transaction or after a write of the same
# request or task (fixops/platform/dbrouter.py). Absent: everything on the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
FIXOPS_READ_REPLICA = bool(DATABASE_REPLICA_URL)
if FIXOPS_READ_REPLICA:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    # Tests read the test database through it (no second test database is created).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["fixops.platform.dbrouter.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://fixops"),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# In development WhiteNoise serves straight from the app directories (no collectstatic).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security -------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("FIXOPS_BEHIND_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=IS_PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading binds the whole parent domain to HTTPS in browsers for months; that is the
# operator's decision for their domain, not a product default, so its warning is silenced
# until they opt in.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=IS_PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=IS_PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)

# --- FixOps ---------------------------------------------------------------------------------
# Beat records a heartbeat this often; /readyz calls beat stale after FIXOPS_BEAT_MAX_AGE.
FIXOPS_HEARTBEAT_SECONDS = env.int("FIXOPS_HEARTBEAT_SECONDS", default=30)
FIXOPS_BEAT_MAX_AGE = env.int("FIXOPS_BEAT_MAX_AGE", default=5 * 60)
# /readyz shows its checks (database vendor, broker, beat, feeds) only to an authenticated
# caller or to `Authorization: Bearer <FIXOPS_PROBE_TOKEN>` (monitoring); others get the status.
FIXOPS_PROBE_TOKEN = env.str("FIXOPS_PROBE_TOKEN", default="")

# /metrics (Prometheus): a bearer token, or client addresses in the allowlist (CIDRs;
# loopback only by default); everyone else gets 404. Database gauges are cached this long.
# A Celery worker serves its own task metrics on FIXOPS_WORKER_METRICS_PORT (0: off).
FIXOPS_METRICS_TOKEN = env.str("FIXOPS_METRICS_TOKEN", default="")
try:
    FIXOPS_METRICS_ALLOWLIST = [
        ipaddress.ip_network(cidr, strict=False)
        for cidr in env.list("FIXOPS_METRICS_ALLOWLIST", default=["127.0.0.1/32", "::1/128"])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"FIXOPS_METRICS_ALLOWLIST: {exc}") from None
FIXOPS_METRICS_CACHE_SECONDS = env.int("FIXOPS_METRICS_CACHE_SECONDS", default=15)
FIXOPS_WORKER_METRICS_PORT = env.int("FIXOPS_WORKER_METRICS_PORT", default=0)

# Tracing (OpenTelemetry, OTLP over HTTP): on only when OTEL_EXPORTER_OTLP_ENDPOINT is set; the
# exporter reads the other standard OTEL_* variables itself. Workers report as "<name>-worker".
FIXOPS_TRACING_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
FIXOPS_TRACING_SERVICE = env.str("OTEL_SERVICE_NAME", default="fixops")

# Scheduled backups (manage.py backup's format): off unless FIXOPS_BACKUP_DIR is set; the
# newest FIXOPS_BACKUP_KEEP files stay. Restores need FIXOPS_ENCRYPTION_KEYS.
FIXOPS_BACKUP_DIR = env.str("FIXOPS_BACKUP_DIR", default="")
FIXOPS_BACKUP_KEEP = env.int("FIXOPS_BACKUP_KEEP", default=7)
FIXOPS_BACKUP_CRONTAB = env.str("FIXOPS_BACKUP_CRONTAB", default="0 3 * * *")
# /api/schema/ and /api/docs/ without signing in. Off wherever secrets are required (production,
# or DEBUG off); on for the embedded development stack, which listens on loopback only.
FIXOPS_PUBLIC_API_DOCS = env.bool("FIXOPS_PUBLIC_API_DOCS", default=not SECRETS_REQUIRED)
# Writing `last_used_at` on every request would make each API call a write; once a minute
# per token is precise enough to spot unused tokens.
FIXOPS_TOKEN_TOUCH_SECONDS = env.int("FIXOPS_TOKEN_TOUCH_SECONDS", default=60)

# API throttling (fixops/platform/api/throttling.py): "N/s", "N/min", "N/hour", "N/day"; empty
# or "none" switches a limit off. Counted in the FIXOPS_THROTTLE_CACHE cache, which must be
# shared (Redis: CACHE_URL=rediscache://...) for the limits to hold across web workers.
# Per API token, else per signed-in user, on every endpoint:
FIXOPS_API_RATE = env.str("FIXOPS_API_RATE", default="1200/min")
# Per token/user on POST /api/v1/scans/ and POST /api/v1/decisions/ (status polling is free):
FIXOPS_UPLOAD_RATE = env.str("FIXOPS_UPLOAD_RATE", default="120/min")
# Per tenant, every credential of it together:
FIXOPS_TENANT_RATE = env.str("FIXOPS_TENANT_RATE", default="6000/min")
# Per integration, for inbound webhooks:
FIXOPS_WEBHOOK_RATE = env.str("FIXOPS_WEBHOOK_RATE", default="600/min")
FIXOPS_THROTTLE_CACHE = env.str("FIXOPS_THROTTLE_CACHE", default="default")

# Scan uploads: above FIXOPS_UPLOAD_MAX_BYTES answer 413; above FIXOPS_INGEST_ASYNC_BYTES the
# report is stored under FIXOPS_UPLOAD_DIR and imported by a worker (202 + status URL).
FIXOPS_UPLOAD_MAX_BYTES = env.int("FIXOPS_UPLOAD_MAX_BYTES", default=512 * 1024 * 1024)
FIXOPS_INGEST_ASYNC_BYTES = env.int("FIXOPS_INGEST_ASYNC_BYTES", default=16 * 1024 * 1024)
# Imports of up to this many findings are risk-scored inside the upload request; larger ones
# are scored by a worker right after commit.
FIXOPS_RISK_INLINE_MAX = env.int("FIXOPS_RISK_INLINE_MAX", default=5000)
# A report whose content is its streams' last scan's repeats that scan (apps/findings/repeat.py);
# off, no import computes the content digest that takes (an eighth of a first import).
FIXOPS_REPEAT_SCANS = env.bool("FIXOPS_REPEAT_SCANS", default=True)
FIXOPS_UPLOAD_DIR = env.path("FIXOPS_UPLOAD_DIR", default=VAR_DIR / "uploads")
# Queued imports (apps/findings/scan_queue.py): a worker holds a scan under a lease of
# FIXOPS_SCAN_LEASE_SECONDS, renewed every third of it while it imports; the sweeper re-queues
# a scan queued longer than FIXOPS_SCAN_STUCK_SECONDS (a lost broker message) or whose lease
# expired (a dead worker), three times at most, then fails it.
FIXOPS_SCAN_LEASE_SECONDS = env.int("FIXOPS_SCAN_LEASE_SECONDS", default=60)
FIXOPS_SCAN_STUCK_SECONDS = env.int("FIXOPS_SCAN_STUCK_SECONDS", default=15 * 60)
# Bounded work for every input (docs/ingestion.md, Limits): containers (JSON arrays and
# objects, XML elements) nested deeper than this are refused with 400 `too_deep`, in reports
# and in JSON request bodies alike.
FIXOPS_MAX_INPUT_DEPTH = env.int("FIXOPS_MAX_INPUT_DEPTH", default=128)
# The most memory one upload may cost a web or worker process above its idle RSS; held by
# construction (streaming readers, bounded buffers and depth) and proven by the hostile-input
# test against a real gunicorn (tests/fixtures/hostile/). Not enforced by an rlimit: regopy's
# allocator reserves a large address range at start and fails under RLIMIT_AS/RLIMIT_DATA.
FIXOPS_UPLOAD_MEMORY_MB = env.int("FIXOPS_UPLOAD_MEMORY_MB", default=512)
# A scan stream (application, tool, branch, target) not scanned for this many days is retired:
# its occurrences are retracted and findings no other stream reports close (docs/ingestion.md).
FIXOPS_STREAM_STALE_DAYS = env.int("FIXOPS_STREAM_STALE_DAYS", default=30)

# Public vulnerability feeds (apps/intel/feeds/): URLs are settings so a company can point
# them at an internal mirror (file:// works too). Downloads stop past FIXOPS_FEED_MAX_BYTES
# and wait at most FIXOPS_FEED_TIMEOUT seconds for the server to answer or send more bytes.
FIXOPS_EPSS_URL = env.str(
    "FIXOPS_EPSS_URL", default="https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"
)
FIXOPS_KEV_URL = env.str(
    "FIXOPS_KEV_URL",
    default="https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
)
FIXOPS_OSV_URL = env.str(
    "FIXOPS_OSV_URL", default="https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
)
FIXOPS_FEED_MAX_BYTES = env.int("FIXOPS_FEED_MAX_BYTES", default=512 * 1024 * 1024)
FIXOPS_FEED_TIMEOUT = env.float("FIXOPS_FEED_TIMEOUT", default=60.0)
# An EPSS file with fewer rows is rejected as truncated (the real one has ~300,000); the
# default of 1 suits fixtures, production can raise it (e.g. 200000).
FIXOPS_EPSS_MIN_ROWS = env.int("FIXOPS_EPSS_MIN_ROWS", default=1)

# Evidence (apps/evidence, docs/evidence.md). The signing key is a PEM file path or the PEM
# itself (Ed25519 or RSA); without one, development generates a key under var/evidence and
# production fails `manage.py check`. Verification keys: extra public-key PEM files.
FIXOPS_EVIDENCE_SIGNING_KEY = env.str("FIXOPS_EVIDENCE_SIGNING_KEY", default="")
FIXOPS_EVIDENCE_RSA_PADDING = env.str("FIXOPS_EVIDENCE_RSA_PADDING", default="pss")
FIXOPS_EVIDENCE_VERIFICATION_KEYS = env.list("FIXOPS_EVIDENCE_VERIFICATION_KEYS", default=[])
# Fernet keys for bundles at rest; empty reuses FIXOPS_ENCRYPTION_KEYS.
FIXOPS_EVIDENCE_ENCRYPTION_KEYS = env.list("FIXOPS_EVIDENCE_ENCRYPTION_KEYS", default=[])
FIXOPS_EVIDENCE_STORAGE = env.str("FIXOPS_EVIDENCE_STORAGE", default="local")
FIXOPS_EVIDENCE_DIR = env.path("FIXOPS_EVIDENCE_DIR", default=VAR_DIR / "evidence")
FIXOPS_EVIDENCE_RETENTION_DAYS = env.int("FIXOPS_EVIDENCE_RETENTION_DAYS", default=7 * 365)
FIXOPS_EVIDENCE_LOCK_MODE = env.str("FIXOPS_EVIDENCE_LOCK_MODE", default="compliance")
FIXOPS_EVIDENCE_S3_BUCKET = env.str("FIXOPS_EVIDENCE_S3_BUCKET", default="")
FIXOPS_EVIDENCE_S3_PREFIX = env.str("FIXOPS_EVIDENCE_S3_PREFIX", default="evidence/")
FIXOPS_EVIDENCE_S3_ENDPOINT_URL = env.str("FIXOPS_EVIDENCE_S3_ENDPOINT_URL", default="")
FIXOPS_EVIDENCE_S3_REGION = env.str("FIXOPS_EVIDENCE_S3_REGION", default="")
FIXOPS_EVIDENCE_AZURE_CONNECTION_STRING = env.str(
    "FIXOPS_EVIDENCE_AZURE_CONNECTION_STRING", default=""
)
FIXOPS_EVIDENCE_AZURE_CONTAINER = env.str("FIXOPS_EVIDENCE_AZURE_CONTAINER", default="evidence")
FIXOPS_EVIDENCE_VERIFIER_ID = env.str(
    "FIXOPS_EVIDENCE_VERIFIER_ID", default="https://fixops.dev/verifier/decision-gate"
)
# A bundle lists at most this many driving findings (the total is always recorded).
FIXOPS_EVIDENCE_MAX_FINDINGS = env.int("FIXOPS_EVIDENCE_MAX_FINDINGS", default=100)
# One GRC export zip holds at most this many bundles (narrow from/to beyond it).
FIXOPS_EVIDENCE_EXPORT_MAX = env.int("FIXOPS_EVIDENCE_EXPORT_MAX", default=10000)

# Outbound calls to tenant-chosen URLs (fixops/platform/http/ssrf.py: integrations, OPA): URLs
# resolving to private, loopback, link-local, metadata, multicast or reserved addresses are
# refused unless inside one of these CIDRs (comma-separated, e.g. "10.20.0.0/16,fd00:1::/64" for
# an on-premises Jira).
FIXOPS_OUTBOUND_ALLOWLIST = env.list("FIXOPS_OUTBOUND_ALLOWLIST", default=[])
# The one way out through a proxy (http://[user:pass@]host:port), for every outbound call of
# fixops/platform/http; HTTP_PROXY/HTTPS_PROXY in the environment are ignored. The SSRF guard
# still vets each target (docs/security.md says how this meets a CONNECT proxy).
FIXOPS_OUTBOUND_PROXY = env.str("FIXOPS_OUTBOUND_PROXY", default="")

# Outbox (apps/connectors/drain.py, docs/connectors.md). A worker claims FIXOPS_OUTBOX_BATCH_SIZE
# messages under a lease of FIXOPS_OUTBOX_LEASE_SECONDS (renewed by a heartbeat thread every
# third of it, whatever the batch is doing; a dead worker's messages are claimed again when it
# runs out, so within about that long); a drain task stops after
# FIXOPS_OUTBOX_DRAIN_SECONDS, beat starts one every FIXOPS_OUTBOX_POLL_SECONDS. Failed attempts
# back off exponentially from FIXOPS_OUTBOX_BACKOFF_BASE up to FIXOPS_OUTBOX_BACKOFF_MAX seconds
# (with jitter, never before Retry-After); after FIXOPS_OUTBOX_MAX_ATTEMPTS the message is dead.
FIXOPS_OUTBOX_BATCH_SIZE = env.int("FIXOPS_OUTBOX_BATCH_SIZE", default=50)
FIXOPS_OUTBOX_LEASE_SECONDS = env.int("FIXOPS_OUTBOX_LEASE_SECONDS", default=20)
FIXOPS_OUTBOX_DRAIN_SECONDS = env.float("FIXOPS_OUTBOX_DRAIN_SECONDS", default=50.0)
FIXOPS_OUTBOX_POLL_SECONDS = env.int("FIXOPS_OUTBOX_POLL_SECONDS", default=5)
FIXOPS_OUTBOX_BACKOFF_BASE = env.float("FIXOPS_OUTBOX_BACKOFF_BASE", default=10.0)
FIXOPS_OUTBOX_BACKOFF_MAX = env.float("FIXOPS_OUTBOX_BACKOFF_MAX", default=3600.0)
FIXOPS_OUTBOX_MAX_ATTEMPTS = env.int("FIXOPS_OUTBOX_MAX_ATTEMPTS", default=12)
# POST /integrations/{id}/sync delivers for at most this long inside the request.
FIXOPS_OUTBOX_SYNC_SECONDS = env.float("FIXOPS_OUTBOX_SYNC_SECONDS", default=20.0)
# Reconciliation (apps/connectors/reconcile.py, docs/connectors.md "Reconciliation and drift"):
# beat walks every enabled tracker integration's linked tickets every FIXOPS_RECONCILE_MINUTES,
# reading FIXOPS_RECONCILE_PAGE_SIZE links per step from the vendor in its batch calls, with a
# pause of FIXOPS_RECONCILE_PAGE_PAUSE_SECONDS between vendor calls; a 429/503 is retried up to
# FIXOPS_RECONCILE_RETRIES times after its Retry-After (else FIXOPS_RECONCILE_BACKOFF_SECONDS,
# doubling). A run stops after FIXOPS_RECONCILE_BUDGET_SECONDS; the next one walks every link
# from the first again.
FIXOPS_RECONCILE_MINUTES = env.int("FIXOPS_RECONCILE_MINUTES", default=30)
FIXOPS_RECONCILE_PAGE_SIZE = env.int("FIXOPS_RECONCILE_PAGE_SIZE", default=200)
FIXOPS_RECONCILE_PAGE_PAUSE_SECONDS = env.float("FIXOPS_RECONCILE_PAGE_PAUSE_SECONDS", default=0.2)
FIXOPS_RECONCILE_RETRIES = env.int("FIXOPS_RECONCILE_RETRIES", default=3)
FIXOPS_RECONCILE_BACKOFF_SECONDS = env.float("FIXOPS_RECONCILE_BACKOFF_SECONDS", default=2.0)
FIXOPS_RECONCILE_BUDGET_SECONDS = env.float("FIXOPS_RECONCILE_BUDGET_SECONDS", default=600.0)
# A person waits on "Test connection": each vendor call may take this long to answer.
FIXOPS_CONNECTION_TEST_SECONDS = env.float("FIXOPS_CONNECTION_TEST_SECONDS", default=10.0)
# Circuit breaker per destination (each integration, each OPA server; fixops/platform/http/
# breaker.py): opens after FIXOPS_BREAKER_THRESHOLD consecutive transient failures for
# FIXOPS_BREAKER_OPEN_SECONDS (doubling per re-opening, up to the max), then probes.
FIXOPS_BREAKER_THRESHOLD = env.int("FIXOPS_BREAKER_THRESHOLD", default=5)
FIXOPS_BREAKER_OPEN_SECONDS = env.float("FIXOPS_BREAKER_OPEN_SECONDS", default=30.0)
FIXOPS_BREAKER_MAX_SECONDS = env.float("FIXOPS_BREAKER_MAX_SECONDS", default=600.0)
# AI advisory (apps/advisory/asking.py): a model provider answering 408/409/429/5xx/529 is
# asked again up to FIXOPS_ADVISORY_RETRIES times after the wait it asked for; a wait longer
# than FIXOPS_ADVISORY_MAX_RETRY_WAIT seconds is not waited for (the answer is rate_limited).
FIXOPS_ADVISORY_RETRIES = env.int("FIXOPS_ADVISORY_RETRIES", default=2)
FIXOPS_ADVISORY_MAX_RETRY_WAIT = env.float("FIXOPS_ADVISORY_MAX_RETRY_WAIT", default=30.0)
# Vendor calls: connect and read timeouts (seconds). Together they stay below the outbox lease,
# so one vendor call that hangs ends (and is recorded as a retry) before a claim could look dead.
FIXOPS_CONNECTOR_CONNECT_TIMEOUT = env.float("FIXOPS_CONNECTOR_CONNECT_TIMEOUT", default=5.0)
FIXOPS_CONNECTOR_READ_TIMEOUT = env.float("FIXOPS_CONNECTOR_READ_TIMEOUT", default=10.0)
if FIXOPS_CONNECTOR_CONNECT_TIMEOUT + FIXOPS_CONNECTOR_READ_TIMEOUT >= FIXOPS_OUTBOX_LEASE_SECONDS:
    raise ImproperlyConfigured(
        "FIXOPS_CONNECTOR_CONNECT_TIMEOUT + FIXOPS_CONNECTOR_READ_TIMEOUT "
        f"({FIXOPS_CONNECTOR_CONNECT_TIMEOUT:g} + {FIXOPS_CONNECTOR_READ_TIMEOUT:g} s) must be "
        f"below FIXOPS_OUTBOX_LEASE_SECONDS ({FIXOPS_OUTBOX_LEASE_SECONDS} s): a vendor call must "
        "end before its outbox lease could."
    )
# Links back to FixOps in tickets and messages (e.g. https://fixops.example.com); empty: none.
FIXOPS_PUBLIC_URL = env.str("FIXOPS_PUBLIC_URL", default="")
# Inbound webhooks (apps/connectors/inbound, docs/connectors.md "Inbound"). A delivery body
# over FIXOPS_HOOK_MAX_BYTES answers 413 (by Content-Length before reading; chunked bodies are
# cut while read). The inbox worker claims FIXOPS_INBOX_BATCH_SIZE deliveries under a lease of
# FIXOPS_INBOX_LEASE_SECONDS, works for up to FIXOPS_INBOX_DRAIN_SECONDS per task; beat starts
# one every FIXOPS_INBOX_POLL_SECONDS (the after-commit trigger is the fast path). A failed
# delivery is retried with the outbox's backoff up to FIXOPS_INBOX_MAX_ATTEMPTS, then failed.
FIXOPS_HOOK_MAX_BYTES = env.int("FIXOPS_HOOK_MAX_BYTES", default=1024 * 1024)
FIXOPS_INBOX_BATCH_SIZE = env.int("FIXOPS_INBOX_BATCH_SIZE", default=50)
FIXOPS_INBOX_LEASE_SECONDS = env.int("FIXOPS_INBOX_LEASE_SECONDS", default=60)
FIXOPS_INBOX_DRAIN_SECONDS = env.float("FIXOPS_INBOX_DRAIN_SECONDS", default=50.0)
FIXOPS_INBOX_POLL_SECONDS = env.int("FIXOPS_INBOX_POLL_SECONDS", default=10)
FIXOPS_INBOX_MAX_ATTEMPTS = env.int("FIXOPS_INBOX_MAX_ATTEMPTS", default=8)

from fixops.settings.components.auth import *  # noqa: E402, F403
from fixops.settings.components.celery import *  # noqa: E402, F403
from fixops.settings.components.drf import *  # noqa: E402, F403
from fixops.settings.components.email import *  # noqa: E402, F403
from fixops.settings.components.logging import *  # noqa: E402, F403
from fixops.settings.components.security import *  # noqa: E402, F403
