"""The feed download client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import tempfile
import time

import pytest

from apps.intel.feeds.download import DownloadError, fetch, open_local
from tests.intel.feedkit import FeedServer

LIMIT = 1024 * 1024


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    """Temporary downloads land in tmp_path, so a test can see that none is left behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_download_streams_to_a_temporary_file_with_hash_and_validators(server, private_tmp):
    body = b"x" * 300_000
    route = server.add("/feed.csv.gz", body)
    got = fetch(server.url("/feed.csv.gz"), max_bytes=LIMIT, timeout=5)
    assert got.path is not None and got.path.read_bytes() == body
    assert got.path.parent == private_tmp and got.path.name.endswith(".csv.gz")
    assert got.sha256 == hashlib.sha256(body).hexdigest() and got.size == len(body)
    assert got.etag == route.etag and got.last_modified.endswith("GMT")
    assert not got.not_modified
    got.discard()
    assert not got.path.exists()
    assert server.requests["/feed.csv.gz"] == 1


def test_etag_makes_a_conditional_request_and_304_means_unchanged(server):
    route = server.add("/kev.json", b"{}")
    got = fetch(server.url("/kev.json"), max_bytes=LIMIT, timeout=5, etag=route.etag)
    assert got.not_modified and got.path is None and got.etag == route.etag
    assert server.headers_seen[-1][1]["If-None-Match"] == route.etag
    modified = fetch(
        server.url("/kev.json"), max_bytes=LIMIT, timeout=5, last_modified="Thu, 01 Jan 2026"
    )
    assert modified.path is not None  # a stale validator gets the whole file
    assert server.headers_seen[-1][1]["If-Modified-Since"] == "Thu, 01 Jan 2026"
    modified.discard()


def test_server_errors_are_retried_with_backoff(server):
    server.add("/flaky", b"data", fail_first=2)
    started = time.perf_counter()
    got = fetch(server.url("/flaky"), max_bytes=LIMIT, timeout=5, retries=3, backoff=0.05)
    assert got.path.read_bytes() == b"data"
    assert server.requests["/flaky"] == 3
    assert time.perf_counter() - started >= 0.05 + 0.1  # 0.05 s, then 0.1 s
    got.discard()


def test_gives_up_after_the_retries(server):
    server.add("/down", b"data", fail_first=10)
    with pytest.raises(DownloadError, match="HTTP 503 .after 3 attempts"):
        fetch(server.url("/down"), max_bytes=LIMIT, timeout=5, retries=2, backoff=0)
    assert server.requests["/down"] == 3


def test_client_errors_are_not_retried(server):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url("/missing"), max_bytes=LIMIT, timeout=5, retries=3, backoff=0)
    assert server.requests["/missing"] == 1


def test_a_slow_server_times_out(server):
    server.add("/slow", b"data", delay=1.0)
    started = time.perf_counter()
    with pytest.raises(DownloadError, match="timed out"):
        fetch(server.url("/slow"), max_bytes=LIMIT, timeout=0.2, retries=1, backoff=0)
    assert time.perf_counter() - started < 1.5
    assert server.requests["/slow"] == 2


def test_declared_size_over_the_limit_is_refused(server, private_tmp):
    server.add("/big", b"x" * (LIMIT + 1))
    with pytest.raises(DownloadError, match="Content-Length .* larger than"):
        fetch(server.url("/big"), max_bytes=LIMIT, timeout=5)
    assert list(private_tmp.iterdir()) == []


def test_undeclared_size_is_enforced_while_streaming(server, private_tmp):
    server.add("/big", b"x" * (4 * LIMIT), content_length=False)
    with pytest.raises(DownloadError, match="larger than the 1048576-byte limit; aborted"):
        fetch(server.url("/big"), max_bytes=LIMIT, timeout=5)
    assert list(private_tmp.iterdir()) == []  # the partial file is gone
    assert server.requests["/big"] == 1  # a size violation is not retried


def test_local_paths_and_file_urls(tmp_path):
    local = tmp_path / "epss.csv.gz"
    local.write_bytes(b"abc")
    for source in (str(local), local.as_uri()):
        got = fetch(source, max_bytes=LIMIT, timeout=5)
        assert got.path == local and got.sha256 == hashlib.sha256(b"abc").hexdigest()
        got.discard()
        assert local.exists()  # a caller's own file is never deleted
    with pytest.raises(DownloadError, match="larger than the 2-byte limit"):
        open_local(local, max_bytes=2)
    with pytest.raises(DownloadError, match="no such file"):
        fetch(str(tmp_path / "nope"), max_bytes=LIMIT, timeout=5)


def test_a_local_directory_is_hashed_whole(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.json").write_bytes(b"{}")
    (tmp_path / "2.json").write_bytes(b"[]")
    got = open_local(tmp_path, max_bytes=LIMIT)
    assert got.path == tmp_path and got.size == 4 and not got.temporary
    (tmp_path / "2.json").write_bytes(b"[1]")
    assert open_local(tmp_path, max_bytes=LIMIT).sha256 != got.sha256
    with pytest.raises(DownloadError, match="larger than the 4-byte limit"):
        open_local(tmp_path, max_bytes=4)


def test_other_schemes_are_refused():
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        fetch("ftp://example.com/feed", max_bytes=LIMIT, timeout=5)
