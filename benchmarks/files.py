"""Files written whole or not at all, and paths built only from plain names: the ground floor under every
layer that writes (records, checkpoints, stored runs, costs, method cards, reports). Imports nothing of
the suite but ``statefile`` (which names what a non-file is)."""
from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from gdw_bench import statefile

TEMP_SUFFIX = ".tmp"  # what a killed writer leaves behind: ``.<name>.<random>.tmp`` beside the file


def plain_name_problem(name) -> str | None:
    """Why ``name`` cannot be one folder or file name under a results root (None: it can): not text,
    empty, '.' or '..', a hidden name, or one holding a path separator or a NUL byte."""
    if not isinstance(name, str) or not name:
        return f"{name!r} is not a name"
    if name.startswith(".") or "/" in name or "\\" in name or "\0" in name or len(name.encode()) > 255:
        return f"{name[:60]!r} is not a plain name (a path separator, a leading '.', a NUL byte or over 255 bytes)"
    return None


def inside(root: Path, *names) -> Path:
    """``root/name/…`` for plain names only, and only where it resolves under ``root`` (a symlinked folder
    pointing out of it included); ``ValueError`` naming the bad part otherwise. Every path the suite builds
    from data (record fields, profile names, slugs, keys) goes through here."""
    root = Path(root)
    for name in names:
        wrong = plain_name_problem(name)
        if wrong:
            raise ValueError(f"a path under {root} from {wrong}")
    path = root.joinpath(*names)
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{path} resolves outside {root}")
    return path


def file_mode() -> int:
    """0666 less the process umask: what ``open()`` would give, so colleagues on a shared results
    folder can read what we write (``mkstemp`` alone gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def not_replaceable(path: Path) -> str | None:
    """Why the suite must not write over ``path`` (None: it may): an existing entry that is not a regular
    file — a device, a FIFO, a socket, a folder or a symlink — is not one of its files, and renaming a
    temporary file over it would replace it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return None
    kind = "a symlink" if stat.S_ISLNK(mode) else statefile.kind_of(mode)
    return f"{path} is {kind}, not a file gdw-bench wrote; it is left as it is"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file in the same folder, renamed into place);
    ``IsADirectoryError``/``FileExistsError`` (OSError) where something other than a regular file is there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    refused = not_replaceable(path)
    if refused:
        raise FileExistsError(errno.EEXIST, refused)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())
