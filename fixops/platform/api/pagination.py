"""Pagination: numbered pages for small tables, keyset (cursor) pages for big ones."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination, PageNumberPagination


class PagePagination(PageNumberPagination):
    """`?page=N&page_size=M` for tables that stay small (applications, tokens, policies)."""

    page_size_query_param = "page_size"
    max_page_size = 500


class KeysetPagination(CursorPagination):
    """Keyset pagination for large tables: no COUNT(*), stable under concurrent inserts.

    Views set `ordering` to a unique, indexed column tuple ending in the primary key.
    """

    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-id",)
