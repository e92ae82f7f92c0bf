"""A report is computed once: the query resolved in ``gdw_bench.reporting.query``, the records read once and
never written to, and each table's frame and summary built once for every format, figure, the summary and
the page (``gdw_bench.reporting.records``)."""
import copy
from collections import Counter

from gdw_bench.reporting import publish
from gdw_bench.reporting import report as rep
from gdw_bench.reporting.query import resolve_query
from gdw_bench.reporting.records import ReportRecords


def _full_report(root, out, monkeypatch):
    calls = Counter()
    collect, summarise = rep._collect, rep.summarise

    def counted_collect(records, table, profile, seeds, from_scratch):
        calls["frame", table.key, tuple(seeds), from_scratch] += 1
        return collect(records, table, profile, seeds, from_scratch)

    def counted_summarise(frame, table, profile, seeds, methods=None):
        calls["summary", table.key, tuple(seeds), methods] += 1
        return summarise(frame, table, profile, seeds, methods)

    monkeypatch.setattr(rep, "_collect", counted_collect)
    monkeypatch.setattr(rep, "summarise", counted_summarise)
    query = resolve_query(root)
    records = rep.with_sweep_rows(rep.load_records(root), query.stored)
    before = copy.deepcopy(list(records))
    tables = [rep.with_found_levels(t, query.profile, records) for t in query.tables]
    written = publish.write_full(records, query.profile, tables, query.seeds_of, out, compare_paper=False,
                                 from_scratch=False, rows=query.rows(rep.known_methods(records)), warn=lambda _: None)
    return records, before, calls, written


def test_a_full_report_never_writes_into_a_record_and_builds_each_tables_data_once(small_grid, tmp_path, monkeypatch):
    records, before, calls, written = _full_report(small_grid, tmp_path / "report", monkeypatch)
    assert isinstance(records, ReportRecords) and len(records) == len(before) > 0
    assert list(records) == before  # not a key added (the old memo wrote ``_current`` into each record)
    assert written and any(p.suffix == ".png" for p in written)
    assert calls and max(calls.values()) == 1, [k for k, n in calls.items() if n > 1]
    # Table 2's frame is read by its three formats, its regime and learning-curve figures, and the summary
    assert calls[("frame", "2", (1, 10, 100), False)] == 1


def test_a_reports_numbers_are_those_of_a_plain_list_of_the_same_records(small_grid):
    """The memo changes when things are computed, never what: a table rendered from the report's records
    equals the one rendered from a plain list of copies of them."""
    query = resolve_query(small_grid)
    records = rep.load_records(small_grid)
    plain = copy.deepcopy(list(records))
    for table in query.tables:
        if table.kind == "accuracy":
            seeds = query.seeds_of(table)
            assert rep.render(records, table, query.profile, seeds, "markdown") == \
                rep.render(plain, table, query.profile, seeds, "markdown")


def test_the_query_is_checked_before_any_record_is_read(tmp_path):
    import pytest

    from gdw_bench.errors import UserInputError

    with pytest.raises(UserInputError, match="several tables only with --summary"):
        resolve_query(tmp_path, table_key="2,3")
    with pytest.raises(UserInputError, match="unknown profile|profile"):
        resolve_query(tmp_path, profile="no-such-profile")
    query = resolve_query(tmp_path, methods="gdw", seeds="1,2")
    assert str(query.default_folder()) == "reports/mini/methods=gdw+seeds=1,2"
    with pytest.raises(UserInputError, match="repeats|twice|more than once"):
        query = resolve_query(tmp_path, methods="gdw,gdw")
        query.rows(["gdw"])
