"""Where the generated rows go: PostgreSQL through COPY, SQLite through executemany.

PostgreSQL follows pg_restore's recipe: the loaded tables' foreign keys, unique
constraints and secondary indexes are dropped before the load and made again after it,
which is several times faster than maintaining them row by row, and re-adding each
foreign key re-checks every row (a generator bug fails the load instead of leaving
orphans). Check constraints stay on during the load. Nothing disables triggers: the audit
table's triggers refuse UPDATE, DELETE and TRUNCATE, never INSERT."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from backoffice.db import Base, UTCDateTime
from backoffice.models import Candidature  # noqa: F401 - registers every model


def _datetime_columns(table: str, columns: Sequence[str]) -> list[int]:
    cols = Base.metadata.tables[table].columns
    return [i for i, name in enumerate(columns) if isinstance(cols[name].type, UTCDateTime)]


def _converter(positions: list[int], convert: Callable[[float], Any]):
    if not positions:
        return None

    def apply(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for i in positions:
            if values[i] is not None:
                values[i] = convert(values[i])
        return tuple(values)

    return apply


def _pg_time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _sqlite_time(ts: float) -> str:
    """The text SQLAlchemy's SQLite DateTime writes (naive UTC, always microseconds), so
    that comparisons in SQL order the same way as the application's own rows."""
    d = datetime.fromtimestamp(ts, UTC)
    return f"{d:%Y-%m-%d %H:%M:%S}.{d.microsecond:06d}"


class PostgresSink:
    def __init__(self, conninfo: str, columns: dict[str, tuple[str, ...]]) -> None:
        import psycopg

        self.conn = psycopg.connect(conninfo)
        self.columns = columns
        self.tables = list(columns)
        self.converters = {t: _converter(_datetime_columns(t, c), _pg_time)
                           for t, c in columns.items()}
        self.saved: dict[str, list[tuple[str, str, str]]] = {}
        self.timings: dict[str, float] = {}
        with self.conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET maintenance_work_mem = '512MB'")

    def prepare(self) -> None:
        """Drop the loaded tables' foreign keys, unique constraints and indexes (kept)."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype "
                "FROM pg_constraint WHERE contype IN ('f', 'u') "
                "AND conrelid = ANY(%s::regclass[]) ORDER BY contype", (self.tables,))
            constraints = cur.fetchall()
            cur.execute(
                "SELECT i.indrelid::regclass::text, c.relname, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
                (self.tables,))
            indexes = cur.fetchall()
            self.saved = {"f": [c[:3] for c in constraints if c[3] == "f"],
                          "u": [c[:3] for c in constraints if c[3] == "u"],
                          "i": indexes}
            for table, name, _ in self.saved["f"] + self.saved["u"]:
                cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for _, name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
        self.conn.commit()

    def write(self, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        with self.conn.cursor() as cur:
            for table in self.tables:
                rows = batch.get(table)
                if not rows:
                    continue
                convert = self.converters[table]
                names = ", ".join(self.columns[table])
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(convert(row) if convert else row)
        self.conn.commit()

    def finish(self) -> None:
        """Indexes and unique constraints again, then foreign keys (each re-checks every
        row), sequences past the loaded ids, VACUUM ANALYZE (autovacuum may be off)."""
        with self.conn.cursor() as cur:
            for _, name, definition in self.saved.get("i", []):
                self._timed(cur, name, definition)
            for table, name, definition in self.saved.get("u", []) + self.saved.get("f", []):
                self._timed(cur, name, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" '
                                       f"{definition}")
            self.conn.commit()
            for table in self.tables:
                if "id" in self.columns[table]:
                    # table names come from COLUMNS, not from any input
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                                f"(SELECT coalesce(max(id), 1) FROM {table}))")
            self.conn.commit()
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            start = time.perf_counter()
            cur.execute("VACUUM (ANALYZE)")
            self.timings["vacuum analyze"] = time.perf_counter() - start
        self.conn.close()

    def _timed(self, cur: Any, name: str, sql: str) -> None:
        start = time.perf_counter()
        cur.execute(sql)
        self.timings[name] = time.perf_counter() - start


class SqliteSink:
    """Big transactions of executemany; foreign keys checked once at the end."""

    def __init__(self, path: str, columns: dict[str, tuple[str, ...]]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.columns = columns
        self.converters = {t: _converter(_datetime_columns(t, c), _sqlite_time)
                           for t, c in columns.items()}
        self.timings: dict[str, float] = {}
        self.conn.execute("PRAGMA foreign_keys = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("PRAGMA journal_mode = OFF")  # a failed load is simply redone
        self.conn.execute("PRAGMA cache_size = -1000000")  # 1 GB: random-key indexes

    def prepare(self) -> None:
        pass

    def write(self, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        self.conn.execute("BEGIN")
        for table, columns in self.columns.items():
            rows = batch.get(table)
            if not rows:
                continue
            convert = self.converters[table]
            if convert:
                rows = [convert(r) for r in rows]
            marks = ", ".join("?" for _ in columns)
            self.conn.executemany(  # table and column names come from COLUMNS
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608
        self.conn.execute("COMMIT")

    def finish(self) -> None:
        start = time.perf_counter()
        broken = self.conn.execute("PRAGMA foreign_key_check").fetchmany(5)
        self.timings["foreign_key_check"] = time.perf_counter() - start
        if broken:
            raise RuntimeError(f"generated rows break foreign keys: {broken}")
        start = time.perf_counter()
        self.conn.execute("ANALYZE")
        self.timings["analyze"] = time.perf_counter() - start
        self.conn.execute("PRAGMA journal_mode = DELETE")
        self.conn.close()
