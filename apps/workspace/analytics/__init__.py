"""Analytics: the numbers the dashboard shows and the analytics API serves (docs/workspace.md,
"Dashboard" and "Analytics API").

`compute` runs the aggregates (each over one tenant's rows, a handful of grouped queries);
`snapshot` stores their result per tenant (`AnalyticsSnapshot`), refreshed by a beat task, so
a request reads one row instead of scanning a million findings. Feed freshness is read live
(three rows). Both the dashboard and the API read through apps/workspace/selectors.py.
"""
