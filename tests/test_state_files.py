"""Every kind of state file the suite reads back goes through one guarded reader (``gdw_bench.statefile``),
and each caller turns its reason into what that kind of file calls for. One damage matrix — missing,
empty, truncated, not JSON/TOML, wrong top type, wrong field types, a future schema, a FIFO, a folder,
a symlink loop, a huge file — runs against each kind:

- record           → (None, reason): the cell shows as corrupt, the report names it and goes on;
- stored run       → left out of `report`'s choice with one warning; named by --profile, one line;
- method cards     → one warning, the cards made from the method files instead;
- costs            → one warning, the estimates fall back to the profile's guesses;
- report manifest  → taken as absent: the folder's report is written anew;
- config / extends → one line, exit 2;
- cell state files (failed.json, queued.json, running.json) → taken as absent.

No case may hang (a FIFO would block a plain ``open``) or read a huge file before refusing it."""
import json
import os
from pathlib import Path

import pytest

from gdw_bench import statefile
from gdw_bench.errors import UserInputError


@pytest.fixture(autouse=True)
def no_hang():
    """A reader that blocks (a FIFO opened for reading waits for a writer) fails the test in 20 s."""
    import signal

    def hung(signum, frame):
        raise TimeoutError("a state file read blocked for 20 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


DAMAGES = ("missing", "empty", "truncated", "not-parsable", "wrong-top-type", "wrong-field-type", "future-schema",
           "fifo", "folder", "symlink-loop", "huge")


def good_record() -> dict:
    from test_regime import fake_record

    record = fake_record("basemodel", 1, 90.0, [{"phase": "train", "epoch": 0, "test_acc": 90.0}])
    record["schema"] = 1
    return record


def good_stored_run() -> dict:
    from gdw_bench.plan import runs
    from gdw_bench.plan.config import PROFILES

    return runs.StoredRun(name="mini", profile=PROFILES["mini"], tables=["2"],
                          seeds=[1, 2], written_at="2026-12-07T00:00:00+00:00").to_json()


def good_cards() -> dict:
    from gdw_bench.methods import cards

    return json.loads(cards.STORED.read_text(encoding="utf-8"))


# kind → (good content, its serialisation, a field to give the wrong type, the schema key or None)
KINDS = {
    "record": (good_record, "json", ("score", "high"), "schema"),
    "stored run": (good_stored_run, "json", ("written_at", 17), "schema"),
    "method cards": (good_cards, "json", ("methods", {"gdw": 1}), "format"),
    "costs": (lambda: {"digits|gdw|cpu": [0.5, 0.6]}, "json", ("digits|gdw|cpu", "slow"), None),
    "report manifest": (lambda: {"profile": "mini", "seeds": "default"}, "json", None, None),
    "config": (lambda: {"extends": "mini", "seeds": [1, 2]}, "toml", ("seeds", "many"), None),
    "cell state": (lambda: {"job_id": "12", "pid": 1}, "json", None, None),
}


def serialise(value: dict, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(value, indent=1).encode()
    lines = [f"{k} = {json.dumps(v)}" for k, v in value.items()]  # flat tables only: enough here
    return ("\n".join(lines) + "\n").encode()


def damage(path: Path, kind: str, how: str) -> bool:
    """Put ``kind``'s file at ``path`` damaged as ``how`` says; False where the kind has nothing to
    damage that way (no schema number, no typed field)."""
    make, fmt, wrong_field, schema_key = KINDS[kind]
    good = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "missing":
        return True
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":  # mid-value: TOML has no end marker, so a cut at a line's end is a shorter config
        path.write_bytes(serialise(good, fmt)[:-3])
    elif how == "not-parsable":
        path.write_bytes(b"\xff\xfe not text at all {[" if fmt == "json" else b"[section\nkey = = 3\n")
    elif how == "wrong-top-type":
        path.write_bytes(b"[1, 2, 3]" if fmt == "json" else b"= 1\n")
    elif how == "wrong-field-type":
        if wrong_field is None:
            return False
        name, value = wrong_field
        path.write_bytes(serialise({**good, name: value}, fmt))
    elif how == "future-schema":
        if schema_key is None:
            return False
        path.write_bytes(serialise({**good, schema_key: 99}, fmt))
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "folder":
        path.mkdir()
    elif how == "symlink-loop":
        os.symlink(path.name, path)  # points at itself
    elif how == "huge":
        with open(path, "wb") as handle:  # sparse: 1 GiB + 1 byte on the filesystem's word, nothing written
            handle.truncate(statefile.LIMITS["data list"] + 1)
    return True


def read_as_the_suite_does(kind: str, path: Path, capsys, monkeypatch):
    """What the caller of ``kind`` makes of the file at ``path``: ("value", …), ("absent", None),
    ("warning", line) or ("error", line)."""
    if kind == "record":  # as `report` and `export` read records: every one under a root
        from gdw_bench.storage import store

        problems = []
        found = list(store.iter_records(path.parent.parent, problems))
        return ("value", found) if found else ("warning", problems[0]) if problems else ("absent", None)
    if kind == "stored run":
        from gdw_bench.plan import runs

        problems = []
        names = runs.names(path.parent.parent, problems)
        if names:
            return "value", runs.load(path.parent.parent, names[0])
        if problems:
            assert len(problems) == 1
            with pytest.raises(UserInputError) as refused:  # named with --profile: its reason, one line
                runs.load(path.parent.parent, path.stem)
            assert "\n" not in str(refused.value) and str(path) in str(refused.value)
            return "warning", problems[0]
        return "absent", None
    if kind == "method cards":
        from gdw_bench.methods import cards

        monkeypatch.setattr(cards, "STORED", path)
        found = cards.read_stored()
        said = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        if found is not None:
            return "value", found
        if said:
            assert len(said) == 1
            return "warning", said[0]
        return "absent", None
    if kind == "costs":
        from gdw_bench.plan import costs

        said = []
        found = costs.load(path.parent, warn=said.append)
        if found:
            return "value", found
        return ("warning", said[0]) if said else ("absent", None)
    if kind == "report manifest":
        from gdw_bench.reporting.query import resolve_query

        query = resolve_query(path.parent, profile="paper")  # another selection than the good manifest's
        wrong = query.other_selection_in(path.parent)
        return ("value", wrong) if wrong else ("absent", None)  # a reason: the manifest was read, another selection
    if kind == "config":
        from gdw_bench.plan.config import load_profile

        try:
            return "value", load_profile(path)
        except UserInputError as exc:
            return "error", str(exc)
    if kind == "cell state":
        from gdw_bench.storage import store

        found = store.read_json(path)
        return ("value", found) if found is not None else ("absent", None)
    raise AssertionError(kind)


FILE_NAMES = {"record": "cell/seed-1/record.json", "stored run": "runs/mini.json", "method cards": "cards.json",
              "costs": "costs.json", "report manifest": "report.json", "config": "my-profile.toml",
              "cell state": "failed.json"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_good_file_of_each_kind_reads_back(kind, tmp_path, capsys, monkeypatch):
    path = tmp_path / FILE_NAMES[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    make, fmt, _, _ = KINDS[kind]
    path.write_bytes(serialise(make(), fmt))
    outcome, _ = read_as_the_suite_does(kind, path, capsys, monkeypatch)
    assert outcome == "value"


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_the_damage_matrix_against_every_kind_of_state_file(kind, how, tmp_path, capsys, monkeypatch):
    path = tmp_path / FILE_NAMES[kind]
    if not damage(path, kind, how):
        assert how in ("wrong-field-type", "future-schema")  # the kind has no typed field or no schema number
        return
    outcome, said = read_as_the_suite_does(kind, path, capsys, monkeypatch)
    if how == "missing":
        expected = {"config": "error"}.get(kind, "absent")
    elif how == "empty" and kind == "config":
        expected = "value"  # an empty config is valid TOML: the base profile, changed in nothing
    else:
        expected = {"record": "warning", "stored run": "warning", "method cards": "warning", "costs": "warning",
                    "report manifest": "absent", "config": "error", "cell state": "absent"}[kind]
    assert outcome == expected, (outcome, said)
    if outcome in ("warning", "error"):
        assert "\n" not in said and "Traceback" not in said
        if how == "wrong-field-type":  # the reason names the field
            assert KINDS[kind][2][0] in said, said
        else:  # the reason names the file
            assert path.name in said, said
    if how == "huge" and outcome in ("warning", "error"):
        assert "MiB, more than" in said, said
    if how == "fifo" and outcome in ("warning", "error"):
        assert "is a FIFO" in said, said
    if how == "future-schema" and outcome in ("warning", "error"):
        assert "newer gdw-bench" in said, said
    assert not [p for p in tmp_path.rglob("*.tmp")]  # reading writes nothing


def test_the_reader_refuses_special_files_without_opening_them_for_a_blocking_read(tmp_path):
    import socket

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.json"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    try:
        for path, kind in ((fifo, "a FIFO"), (sock_path, "a socket"), (Path("/dev/zero"), "a device"),
                           (tmp_path, "a folder")):
            found = statefile.read(path, "state")
            assert found.value is None and f"is {kind}, not a regular file" in found.problem
    finally:
        server.close()
    found = statefile.read(Path(f"{tmp_path}/x\0y.json"), "state")
    assert "NUL byte" in found.problem
    link = tmp_path / "to-zero.json"
    os.symlink("/dev/zero", link)  # an endless file behind a symlink: refused as what it points at
    assert "is a device" in statefile.read(link, "config", fmt="toml").problem


def test_a_file_that_grows_past_its_cap_while_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "costs.json"
    path.write_text("{}")
    monkeypatch.setitem(statefile.LIMITS, "costs", 10)
    assert statefile.read(path, "costs").value == {}
    path.write_text('{"a": [1, 2, 3]}')
    assert "more than this kind of file may hold" in statefile.read(path, "costs").problem


def test_deeply_nested_json_is_one_reason(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in statefile.read(path, "record").problem
