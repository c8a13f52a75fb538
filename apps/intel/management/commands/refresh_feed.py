"""`manage.py refresh_feed epss|kev|osv [--file PATH | --url URL]`: one refresh, now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

FEEDS = ("epss", "kev", "osv")


class Command(BaseCommand):
    help = (
        "Download (or read) a vulnerability feed, validate it and load it. Without --file or "
        "--url the configured FIXOPS_<FEED>_URL is used, conditionally (304 = unchanged)."
    )

    def add_arguments(self, parser):
        parser.add_argument("feed", choices=FEEDS, help="Which feed to refresh")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--file", dest="path", help="Load this local file instead")
        source.add_argument("--url", help="Download from this URL instead of the setting")

    def handle(self, *args, feed: str, path: str | None, url: str | None, **options) -> None:
        from apps.intel.feeds import FeedError
        from apps.intel.services import feed_refresh_detailed

        try:
            run = feed_refresh_detailed(name=feed, url=url, path=path)
        except FeedError as exc:
            raise CommandError(f"{feed}: refresh failed: {exc}") from None
        status = run.status
        if run.unchanged:
            self.stdout.write(
                f"{feed}: unchanged (304 Not Modified); still version {status.version or '-'}, "
                f"{status.row_count} rows"
            )
            return
        result = run.result
        events = result.events if result else 0
        changed = len(result.changed) if result else 0
        self.stdout.write(
            f"{feed}: loaded {status.row_count} rows, version {status.version or '-'}, "
            f"sha256 {status.sha256[:12]}; {changed} changed, {events} events, "
            f"{run.rescored} findings re-scored"
        )
