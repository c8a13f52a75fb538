"""Fetch a feed file to a temporary file: bounded in time and size, retried, conditional.

Feeds are public files of a few MB to a few hundred MB fetched by a worker, so the client
must never hang (connect and read timeouts on every request), never fill the disk (the size
limit is enforced while streaming, not trusted from Content-Length), ride out a flaky mirror
(a few retries with exponential backoff; GET is idempotent, so retrying it is safe), and
not re-download an unchanged file (If-None-Match / If-Modified-Since from the last success;
304 means unchanged). `file://` URLs and local paths go through the same size check and
hashing, for `manage.py refresh_feed --file` and air-gapped installs.

HTTP goes through the platform's outbound client (fixops/platform/http/): its timeouts, error
mapping and retry loop (which also honours a mirror's Retry-After). The SSRF guard is off and
redirects are followed: feed URLs come from the operator's settings, not from a tenant, and an
internal mirror on a private address is a supported set-up.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from apps.intel.feeds import FeedError
from fixops.platform.http.errors import PermanentError, TransientError
from fixops.platform.http.retry import retry_after_from, with_retries
from fixops.platform.http.session import GuardedSession, build_session

CHUNK_BYTES = 1024 * 1024
CONNECT_TIMEOUT = 10.0  # seconds; capped by the read timeout when that is smaller
RETRIES = 3  # attempts after the first one
BACKOFF = 1.0  # seconds before the first retry, doubled for each next one
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = "FixOps feed client (+https://github.com/fixops)"


class DownloadError(FeedError):
    """The file could not be fetched (network, HTTP status, size or timeout)."""


@dataclass(frozen=True)
class Download:
    """A fetched file, or `not_modified` with no file when the server answered 304."""

    url: str
    path: Path | None
    sha256: str = ""
    size: int = 0
    etag: str = ""
    last_modified: str = ""
    not_modified: bool = False
    temporary: bool = True  # False for a caller's own local file, which is never deleted

    def discard(self) -> None:
        """Remove the temporary copy (a no-op for local files and 304 answers)."""
        if self.path is not None and self.temporary:
            self.path.unlink(missing_ok=True)


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    etag: str = "",
    last_modified: str = "",
    retries: int | None = None,
    backoff: float | None = None,
) -> Download:
    """Fetch `url` (http, https, file, or a local path) into a temporary file.

    `retries` and `backoff` default to RETRIES and BACKOFF, read at call time.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return _fetch_http(
            url,
            max_bytes=max_bytes,
            timeout=timeout,
            etag=etag,
            last_modified=last_modified,
            retries=RETRIES if retries is None else retries,
            backoff=BACKOFF if backoff is None else backoff,
        )
    if scheme == "file":
        return open_local(unquote(urlsplit(url).path), max_bytes=max_bytes)
    if scheme == "" or len(scheme) == 1:  # a plain path (or a Windows drive letter)
        return open_local(url, max_bytes=max_bytes)
    raise DownloadError(f"unsupported URL scheme {scheme!r} in {url!r} (http, https or file)")


def open_local(path: str | os.PathLike[str], *, max_bytes: int) -> Download:
    """Hash a local file in place, checked against the same size limit as a download.

    A directory is accepted too (OSV mirrors can be a tree of JSON records): its files are
    hashed in name order, each with its relative path, and their sizes add up to the limit.
    """
    local = Path(path)
    if local.is_dir():
        files = sorted(p for p in local.rglob("*") if p.is_file())
    elif local.is_file():
        files = [local]
    else:
        raise DownloadError(f"no such file: {local}")
    digest = hashlib.sha256()
    size = 0
    for file in files:
        if file != local:
            digest.update(file.relative_to(local).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            while block := handle.read(CHUNK_BYTES):
                size += len(block)
                if size > max_bytes:
                    raise DownloadError(f"{local} is larger than the {max_bytes}-byte limit")
                digest.update(block)
    return Download(
        url=local.resolve().as_uri(),
        path=local,
        sha256=digest.hexdigest(),
        size=size,
        temporary=False,
    )


def _fetch_http(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    etag: str,
    last_modified: str,
    retries: int,
    backoff: float,
) -> Download:
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeouts = (min(CONNECT_TIMEOUT, timeout), timeout)
    calls = 0

    def attempt() -> Download:
        nonlocal calls
        calls += 1
        return _attempt(session, url, max_bytes)

    session = build_session(
        label=url,
        timeout=timeouts,
        headers=headers,
        ssrf_guard=False,
        follow_redirects=True,
        map_status=False,
    )
    with session:
        try:
            return with_retries(attempt, retries=retries, backoff=backoff, label="feed download")
        except TransientError as exc:
            raise DownloadError(f"{url}: {exc.text} (after {calls} attempts)") from None


def _attempt(session: GuardedSession, url: str, max_bytes: int) -> Download:
    try:
        response = session.get(url, stream=True)
    except TransientError as exc:
        raise TransientError(str(exc), text=_transport_reason(exc)) from None
    except PermanentError as exc:
        raise DownloadError(str(exc)) from None
    with response:
        if response.status_code == 304:
            return Download(
                url=url,
                path=None,
                etag=response.headers.get("ETag", ""),
                last_modified=response.headers.get("Last-Modified", ""),
                not_modified=True,
            )
        if response.status_code in RETRY_STATUSES:
            raise TransientError(
                f"HTTP {response.status_code}",
                status=response.status_code,
                retry_after=retry_after_from(response),
                text=f"HTTP {response.status_code}",
            )
        if response.status_code != 200:
            raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise DownloadError(
                f"{url}: Content-Length {declared} is larger than the {max_bytes}-byte limit"
            )
        path, digest, size = _stream_to_temp(response, url, max_bytes)
        return Download(
            url=url,
            path=path,
            sha256=digest,
            size=size,
            etag=response.headers.get("ETag", ""),
            last_modified=response.headers.get("Last-Modified", ""),
        )


def _transport_reason(exc: TransientError) -> str:
    cause = exc.__cause__
    if isinstance(cause, requests.Timeout):
        return f"timed out ({type(cause).__name__})"
    return f"connection failed ({type(cause).__name__ if cause else 'error'}: {exc})"


def _stream_to_temp(response: requests.Response, url: str, max_bytes: int) -> tuple[Path, str, int]:
    """Write the body to a temporary file, aborting as soon as it passes `max_bytes`."""
    suffix = "".join(Path(urlsplit(url).path).suffixes[-2:])[:20]
    handle = tempfile.NamedTemporaryFile(prefix="fixops-feed-", suffix=suffix, delete=False)  # noqa: SIM115 - closed below, kept on success
    path = Path(handle.name)
    digest = hashlib.sha256()
    size = 0
    try:
        with handle:
            # Counted after transfer decoding, so a small gzip-encoded body cannot expand
            # past the limit either.
            for block in response.iter_content(CHUNK_BYTES):
                size += len(block)
                if size > max_bytes:
                    raise DownloadError(f"{url}: larger than the {max_bytes}-byte limit; aborted")
                digest.update(block)
                handle.write(block)
    except requests.Timeout as exc:
        path.unlink(missing_ok=True)
        reason = f"timed out while reading ({type(exc).__name__})"
        raise TransientError(reason, text=reason) from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        path.unlink(missing_ok=True)
        reason = f"connection broken while reading ({type(exc).__name__})"
        raise TransientError(reason, text=reason) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size
