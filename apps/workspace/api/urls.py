"""The read side's API: analytics and reports (docs/workspace.md)."""

urlpatterns: list = []
