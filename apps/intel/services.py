"""Writes of the intel app: refreshing the public feeds (EPSS, KEV, OSV).

A refresh is: record the attempt; fetch the file (conditionally when it comes from the same
URL as the data held); validate and load it in one transaction together with its FeedStatus;
then re-score the findings whose vulnerabilities changed. Any failure is written to
FeedStatus.last_error and re-raised; the data loaded by the last good refresh stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.intel.feeds import FeedError, FeedRejected, FeedResult, osv
from apps.intel.feeds.download import fetch
from apps.intel.feeds.epss import epss_load
from apps.intel.feeds.kev import kev_load
from apps.intel.feeds.status import (
    feed_attempt_record,
    feed_error_record,
    feed_status_get,
    feed_success_record,
    feed_unchanged_record,
)
from apps.intel.models import FeedStatus
from apps.intel.scoring import risk_refresh
from fixops.platform.audit import audit_record

logger = logging.getLogger(__name__)

Loader = Callable[..., FeedResult]
URL_SETTINGS = {"epss": "FIXOPS_EPSS_URL", "kev": "FIXOPS_KEV_URL", "osv": "FIXOPS_OSV_URL"}


@dataclass(frozen=True)
class FeedRefreshResult:
    """What one refresh did, for the command's summary line and the task's log."""

    status: FeedStatus
    unchanged: bool  # the server answered 304 Not Modified
    result: FeedResult | None  # None when unchanged
    rescored: int  # findings re-scored because their vulnerability's EPSS or KEV changed


def feed_refresh(*, name: str, url: str | None = None, path: str | None = None) -> FeedStatus:
    """Refresh one feed from its configured URL, another URL, or a local file."""
    return feed_refresh_detailed(name=name, url=url, path=path).status


def feed_refresh_detailed(
    *, name: str, url: str | None = None, path: str | None = None
) -> FeedRefreshResult:
    """`feed_refresh`, also telling whether the file was unchanged and what the load did."""
    if url and path:
        raise FeedError("give a URL or a file, not both")
    loader = _loader(name)
    previous = feed_status_get(name=name)
    held = {"version": previous.version, "sha256": previous.sha256}
    source = (
        str(Path(path).resolve().as_uri()) if path else url or getattr(settings, URL_SETTINGS[name])
    )
    # Validators are only valid for the URL that produced the data held.
    conditional = path is None and previous.last_success is not None and previous.url == source
    feed_attempt_record(name=name)
    try:
        download = fetch(
            path or source,
            max_bytes=settings.FIXOPS_FEED_MAX_BYTES,
            timeout=settings.FIXOPS_FEED_TIMEOUT,
            etag=previous.etag if conditional else "",
            last_modified=previous.last_modified if conditional else "",
        )
    except FeedError as exc:
        feed_error_record(name=name, error=str(exc))
        raise
    if download.not_modified:
        status = feed_unchanged_record(
            name=name, etag=download.etag, last_modified=download.last_modified
        )
        logger.info("feed unchanged", extra={"feed": name, "url": source})
        return FeedRefreshResult(status=status, unchanged=True, result=None, rescored=0)
    try:
        with transaction.atomic():
            result = loader(download.path, announce=previous.last_success is not None)
            status = feed_success_record(
                name=name,
                url=download.url,
                row_count=result.row_count,
                version=result.version,
                sha256=download.sha256,
                etag=download.etag,
                last_modified=download.last_modified,
            )
            audit_record(
                tenant=None,  # intel is shared by every tenant: the global chain
                actor="intel:feeds",
                action="feed.load",
                target_type="intel.feedstatus",
                target_id=name,
                before=held,
                after={
                    "version": result.version,
                    "sha256": download.sha256,
                    "rows": result.row_count,
                    "changed": len(result.changed),
                    "url": download.url,
                },
            )
    except FeedError as exc:
        feed_error_record(name=name, error=str(exc))
        raise
    except Exception as exc:
        feed_error_record(name=name, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        download.discard()
    rescored = _rescore(result.changed)
    logger.info(
        "feed loaded",
        extra={
            "feed": name,
            "rows": result.row_count,
            "version": result.version,
            "changed": len(result.changed),
            "events": result.events,
            "rescored": rescored,
        },
    )
    return FeedRefreshResult(status=status, unchanged=False, result=result, rescored=rescored)


def _loader(name: str) -> Loader:
    """The loader of a feed, resolved before anything is downloaded."""
    if name == "epss":
        return epss_load
    if name == "kev":
        return kev_load
    if name == "osv":
        return _osv_loader()
    raise FeedError(f"unknown feed {name!r}; expected one of: {', '.join(URL_SETTINGS)}")


def _osv_loader() -> Loader:
    """apps/intel/feeds/osv.py owns advisory storage, matching and re-scoring; this adapts
    `load_osv(path) -> int` to the loader signature and turns its rejection of a whole export
    into FeedRejected."""
    rejected = osv.OsvFeedError

    def load(path: Path, *, announce: bool = True) -> FeedResult:
        try:
            return FeedResult(row_count=osv.load_osv(str(path)), version="")
        except rejected as exc:
            raise FeedRejected(str(exc)) from None

    return load


def _rescore(vuln_ids: list[str]) -> int:
    """Re-score the findings of vulnerabilities (and their aliases) whose EPSS or KEV
    changed."""
    if not vuln_ids:
        return 0
    return risk_refresh(vuln_ids=vuln_ids)
