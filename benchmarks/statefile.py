"""One guarded reader for every file the suite reads back from disk: records, stored runs, method cards,
costs, report manifests, configs and profiles, and the text lists of a user's own data.

A results folder is something people copy, share and receive, so nothing read from one is trusted.
``read`` follows the same steps for every kind of file:

1. only a regular file is opened: a FIFO, a device, a socket or a folder is refused before any read
   (a FIFO would block the reader for ever); a symlink is resolved by the kernel, whose bound on a
   chain (40 links) makes a loop one reason (ELOOP) rather than a hang;
2. the size is capped before reading (``stat``), and the read itself stops one byte past the cap, so
   a file that grows while it is read cannot exhaust memory either;
3. the text is decoded (UTF-8, whatever the locale) and parsed (JSON or TOML);
4. the caller's ``check`` looks at the parsed value — schema version, every field's type and range —
   and returns what is wrong, or None.

The answer is a ``StateFile``: the value, or one reason that names the file. What a reason means is
the caller's to decide: a config is one line and exit 2; a damaged record or stored run is named in
the report and left alone; a stale or damaged cache (method cards, costs) is rebuilt from its source of
truth with one warning. Torch-free, and it imports nothing of the suite: every layer may use it.
"""
from __future__ import annotations

import errno
import json
import math
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MiB = 1 << 20
# The most each kind of file may hold before it is refused unread (bytes). Each is far above what the
# suite writes (a paper-profile record with per-epoch diagnostics is ~1 MiB; a stored sweep of 100
# points ~2 MiB) and far below what would hurt a 2-core, 24 GiB machine to parse.
LIMITS = {"record": 64 * MiB, "stored run": 64 * MiB, "method cards": 8 * MiB, "costs": 16 * MiB,
          "report manifest": 1 * MiB, "config": 4 * MiB, "state": 16 * MiB, "data list": 1024 * MiB,
          "model file": 16 * MiB}


class Unreadable(Exception):
    """A state file that cannot be used: the message is one line that names the file and what is wrong."""


@dataclass(frozen=True)
class StateFile:
    """What ``read`` found: ``value`` (the parsed content, checked) or ``reason`` (what is wrong, one
    line; ``problem`` is the same naming the file); both None when the file does not exist."""

    path: Path
    value: Any = None
    reason: str | None = None

    @property
    def missing(self) -> bool:
        return self.value is None and self.reason is None

    @property
    def problem(self) -> str | None:
        return None if self.reason is None else f"{self.path}: {self.reason}"


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop"
    return exc.strerror or type(exc).__name__


def regular_file_problem(path: Path) -> str | None:
    """Why ``path`` is not a regular file one may open for reading (None: it is): missing, a special file,
    a symlink loop. For data files read by their own loaders (an ``.npz``), whose size is theirs to check."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be read ({_why(exc)})"
    except ValueError:
        return "not a usable path (it holds a NUL byte)"
    return None if stat.S_ISREG(mode) else f"it is {kind_of(mode)}, not a regular file"


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ``FileNotFoundError`` when it (or its
    symlink's target) does not exist; ``Unreadable`` with one line otherwise."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode  # follows symlinks; the kernel bounds the chain (ELOOP)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unreadable(f"cannot be read ({_why(exc)})") from None
    except ValueError:  # a NUL byte in the path
        raise Unreadable("not a usable path (it holds a NUL byte)") from None
    if not stat.S_ISREG(mode):
        raise Unreadable(f"it is {kind_of(mode)}, not a regular file")
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the stat, opening it does not block;
        # the fstat of what was opened then refuses it
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unreadable(f"cannot be read ({_why(exc)})") from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise Unreadable(f"it is {kind_of(opened.st_mode)}, not a regular file")
        if opened.st_size > limit:
            raise Unreadable(f"{opened.st_size / MiB:.1f} MiB, more than this kind of file may hold "
                             f"({limit / MiB:.0f} MiB)")
        try:
            data = handle.read(limit + 1)  # one byte past the cap: a file growing while read is refused too
        except OSError as exc:
            raise Unreadable(f"cannot be read ({_why(exc)})") from None
    if len(data) > limit:
        raise Unreadable(f"grew past {limit / MiB:.0f} MiB while it was read")
    return data


def read_text(path: Path, limit: int) -> str:
    """``read_bytes`` decoded as UTF-8."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (byte {exc.start})") from None


def parse_json(path: Path, text: str) -> Any:
    """JSON text as a value; ``Unreadable`` saying where it broke. (NaN, which Python writes, parses:
    each kind's check says which field holds it.)"""
    try:
        return json.loads(text)
    except RecursionError:
        raise Unreadable("nested too deeply to be a state file") from None
    except json.JSONDecodeError as exc:
        raise Unreadable(f"not valid JSON ({exc.msg} at line {exc.lineno}; truncated?)") from None


def parse_toml(path: Path, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Unreadable(f"not valid TOML ({exc})") from None
    except RecursionError:
        raise Unreadable("nested too deeply to be a config") from None


PARSERS = {"json": parse_json, "toml": parse_toml}


def read(path: Path, kind: str, check: Callable[[Any], str | None] | None = None, fmt: str = "json") -> StateFile:
    """Read, cap, parse and check one state file of ``kind`` (a key of ``LIMITS``); never raises for
    what is in the file or what the path is (see the module's docstring)."""
    path = Path(path)
    try:
        value = PARSERS[fmt](path, read_text(path, LIMITS[kind]))
    except FileNotFoundError:
        return StateFile(path)
    except Unreadable as exc:
        return StateFile(path, reason=str(exc))
    wrong = check(value) if check is not None else None
    if wrong is None and value is None:  # JSON null: there is a file, and it holds nothing usable
        wrong = "holds null, not a JSON object"
    return StateFile(path, reason=wrong) if wrong is not None else StateFile(path, value=value)


# ----- checks a caller composes into its ``check`` ------------------------------------------------
def type_name(value: Any) -> str:
    return "null" if value is None else {dict: "object", list: "list", str: "text", bool: "boolean"}.get(
        type(value), type(value).__name__)


def is_number(value: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def object_problem(value: Any, schema_key: str | None = None, schema: int | None = None) -> str | None:
    """A JSON object (and, when ``schema`` is given, of that schema version), else what it is instead."""
    if not isinstance(value, dict):
        return f"holds a JSON {type_name(value)}, not an object"
    if schema_key is not None:
        found = value.get(schema_key)
        if not is_int(found):
            return f"'{schema_key}' is {found!r}, not a schema number (this gdw-bench writes {schema})"
        if found != schema:
            newer = "a newer" if found > schema else "an older"
            return f"{schema_key} {found} ({newer} gdw-bench wrote it), this gdw-bench reads {schema_key} {schema}"
    return None


def fields_problem(value: dict, fields: dict[str, tuple], where: str = "", required: bool = True) -> str | None:
    """Each named field present (when ``required``) and of one of its types (bool never counts as int)."""
    for name, types in fields.items():
        if name not in value:
            if required:
                return f"field '{where}{name}' is missing"
            continue
        got = value[name]
        if not isinstance(got, types) or (isinstance(got, bool) and bool not in types):
            wanted = "/".join("null" if t is type(None) else type_name(t()) if t in (dict, list, str, bool)
                              else t.__name__ for t in types)
            return f"field '{where}{name}' is {type_name(got)}, not {wanted}"
    return None


__all__ = ["LIMITS", "kind_of", "StateFile", "Unreadable", "fields_problem", "is_int", "is_number", "object_problem", "read",
           "read_bytes", "read_text", "regular_file_problem", "type_name"]
