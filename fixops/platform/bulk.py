"""Set-based writes whose statement count does not grow with the number of rows.

SQL here is assembled only from model metadata (table and column names quoted by the
backend) and fixed fragments; every value travels as a parameter or through COPY, which is
why the S608/S610 warnings are silenced line by line.

On PostgreSQL: COPY for inserts and array parameters (`= ANY(%s)`) for updates, so importing
100,000 findings costs a handful of statements. Other databases (the embedded SQLite) fall
back to Django's batched bulk operations: slower, same results.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models, router, transaction
from django.db.models import QuerySet

SQLITE_BATCH = 500  # stays under SQLite's bound-parameter limit
# One array parameter, joined as a set: `col = ANY(array)` would scan the array once per row
# (100,000 rows x 10,000 ids took 10 s); a semi-join over unnest() is hashed.
_IN_ARRAY = "{column} IN (SELECT unnest(%s::{array_type}[]))"


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _with_json(row: Sequence, json_at: list[int]) -> Sequence:
    """COPY's text format takes JSON columns as serialised strings."""
    if not json_at:
        return row
    out = list(row)
    for i in json_at:
        value = out[i]
        # Most JSON columns of an import are empty: skip the encoder for them.
        out[i] = "[]" if value == [] else "{}" if value == {} else json.dumps(value)
    return out


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert rows (tuples in `fields` order) in one COPY on PostgreSQL; returns the count."""
    meta_fields = [model._meta.get_field(name) for name in fields]
    columns = [f.column for f in meta_fields]
    count = 0
    if _is_postgres():
        json_at = [i for i, f in enumerate(meta_fields) if isinstance(f, models.JSONField)]
        table = connection.ops.quote_name(model._meta.db_table)
        column_sql = ", ".join(connection.ops.quote_name(c) for c in columns)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({column_sql}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(_with_json(row, json_at))
                count += 1
        return count
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(fields, row, strict=True))))
        count += 1
        if len(batch) >= SQLITE_BATCH:
            model.objects.bulk_create(batch)
            batch = []
    if batch:
        model.objects.bulk_create(batch)
    return count


def update_by_ids(model: type[models.Model], ids: Sequence[int], **values: Any) -> int:
    """UPDATE model SET values WHERE id IN ids: one statement with one array on PostgreSQL
    (Django's IN would send one parameter per id)."""
    if not ids:
        return 0
    manager = model._base_manager
    if _is_postgres():
        where = _IN_ARRAY.format(column="id", array_type="bigint")
        return manager.extra(where=[where], params=[list(ids)]).update(  # noqa: S608, S610 - see module docstring
            **values
        )
    total = 0
    for start in range(0, len(ids), SQLITE_BATCH):
        total += manager.filter(id__in=ids[start : start + SQLITE_BATCH]).update(**values)
    return total


def update_rows(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple[int, ...]]
) -> int:
    """Set per-row values: rows are (id, *values in `fields` order). One UPDATE ... FROM on
    PostgreSQL (a temporary table filled by COPY); batched bulk_update elsewhere."""
    if not rows:
        return 0
    if _is_postgres():
        meta = model._meta
        table = connection.ops.quote_name(meta.db_table)
        columns = [meta.get_field(name).column for name in fields]
        # Atomic: the temporary table lives until the end of the transaction (ON COMMIT DROP).
        with transaction.atomic(), connection.cursor() as cursor:
            cols = ", ".join(connection.ops.quote_name(c) for c in ["id", *columns])
            # Same column types as the target, none of its constraints.
            cursor.execute(
                f"CREATE TEMP TABLE _fixops_update ON COMMIT DROP AS "  # noqa: S608, S610 - see module docstring
                f"SELECT {cols} FROM {table} WITH NO DATA"
            )
            json_at = [
                i + 1
                for i, name in enumerate(fields)
                if isinstance(meta.get_field(name), models.JSONField)
            ]
            with cursor.copy(f"COPY _fixops_update ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(_with_json(row, json_at))
            assignments = ", ".join(
                f"{connection.ops.quote_name(c)} = u.{connection.ops.quote_name(c)}"
                for c in columns
            )
            cursor.execute(
                f"UPDATE {table} t SET {assignments} FROM _fixops_update u WHERE t.id = u.id"  # noqa: S608, S610 - see module docstring
            )
            updated = cursor.rowcount
            cursor.execute("DROP TABLE _fixops_update")
        return updated
    objs = [model(id=row[0], **dict(zip(fields, row[1:], strict=True))) for row in rows]
    model._base_manager.bulk_update(objs, fields, batch_size=SQLITE_BATCH)
    return len(objs)


def values_for_ids(
    queryset: models.QuerySet, field: str, ids: Sequence[int] | Sequence[str], *columns: str
) -> list[tuple]:
    """`queryset.filter(<field> IN ids).values_list(*columns)`, as one array parameter on
    PostgreSQL and in parameter-limit-sized chunks elsewhere."""
    if not ids:
        return []
    column = queryset.model._meta.get_field(field).column
    if _is_postgres():
        array_type = "text" if isinstance(ids[0], str) else "bigint"
        return list(
            queryset.extra(  # noqa: S610 - see module docstring
                where=[_IN_ARRAY.format(column=column, array_type=array_type)], params=[list(ids)]
            ).values_list(*columns)
        )
    rows: list[tuple] = []
    for start in range(0, len(ids), SQLITE_BATCH):
        chunk = ids[start : start + SQLITE_BATCH]
        rows.extend(queryset.filter(**{f"{field}__in": chunk}).values_list(*columns))
    return rows


def delete_in_batches(queryset: QuerySet, *, batch: int = 5000) -> int:
    """Delete the rows of `queryset` `batch` at a time, each batch its own transaction, so a
    large purge never holds locks or a snapshot for long. Raw deletes: for tables nothing
    references (no cascade, no signals). Returns how many rows went."""
    model = queryset.model
    total = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by().values_list("pk", flat=True)[:batch])
            if not ids:
                return total
            total += model._base_manager.filter(pk__in=ids)._raw_delete(router.db_for_write(model))
        if len(ids) < batch:
            return total
