"""The records one report reads, and what it computes from them once.

A report reads every record under the results root once (``report.load_records``), then renders many
tables in three formats, figures, the grid summary and the page from them. ``ReportRecords`` holds that
list, read-only — the report never writes into a record; a row it relabels (a sweep's point) is a copy —
and remembers what the report derives from it, so each is computed once per report, not once per table,
format, figure and panel:
- whether a record is current for a profile (``is_current``: its identity against the profile's
  configuration today; a sweep's copy counts as current for the base profile it is a row of);
- each table's frame of (column, method, seed, score, record) rows (``frame``), and its summary
  (``summary``: the rows, cells and present columns), which every renderer and figure of the table reads.
"""
from __future__ import annotations

from typing import Callable, Iterable

from gdw_bench.core.identity import record_is_current


class ReportRecords(tuple):
    """A tuple of record dicts (read-only), with the report's derived values memoised on it."""

    def __new__(cls, records: Iterable[dict] = (), rows_of: dict[int, str] | None = None):
        self = super().__new__(cls, records)
        self._rows_of = dict(rows_of or {})  # id(record) → the base profile a relabelled copy is a row of
        self._memo: dict[tuple, tuple] = {}  # key → (the objects the key names by id, kept alive; value)
        return self

    def with_rows(self, records: Iterable[dict], base_profile: str, copies: Iterable[dict]) -> ReportRecords:
        """These records plus ``copies`` (relabelled rows) that count as current for ``base_profile``."""
        copies = list(copies)
        rows_of = {**self._rows_of, **{id(c): base_profile for c in copies}}
        return ReportRecords([*records, *copies], rows_of)

    def is_current(self, record: dict, profile) -> bool:
        """``identity.record_is_current``, once per (record, profile)."""
        if self._rows_of.get(id(record)) == profile.name:
            return True
        return self.remember(("current", id(record), id(profile)), (record, profile),
                             lambda: record_is_current(record, profile))

    def remember(self, key: tuple, named: tuple, compute: Callable):
        """``compute()`` once per ``key``; ``named``: the objects whose ids the key holds, kept alive with the
        value so that an id is never reused for another object while it is remembered."""
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = (named, compute())
        return found[1]


def is_current(records, record: dict, profile) -> bool:
    """Whether ``record`` is current for ``profile``; memoised where ``records`` is a report's list."""
    if isinstance(records, ReportRecords):
        return records.is_current(record, profile)
    return record_is_current(record, profile)


def remembered(records, key: tuple, named: tuple, compute: Callable):
    """``compute()``, memoised on a report's records (computed anew on a plain list)."""
    if isinstance(records, ReportRecords):
        return records.remember(key, named, compute)
    return compute()
