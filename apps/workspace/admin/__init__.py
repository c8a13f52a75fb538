"""The composed admin pages of the read side, registered after every app's own admin
(apps.workspace loads last): they replace an app's page where they read several apps."""

from apps.workspace.admin import decisions, findings, scans  # noqa: F401  (registers the pages)
