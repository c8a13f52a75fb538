"""The workspace's admin pages, composed from several apps (loaded last: apps.workspace is the
last installed app, so these may replace a lower app's registration)."""

from apps.workspace.admin import decisions  # noqa: F401
