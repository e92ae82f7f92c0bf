"""The one exception type that the CLI turns into a one-line message and exit code 2."""
from __future__ import annotations

import contextlib
import difflib
import shlex
from typing import Iterable


class UserInputError(ValueError):
    """Bad input from the user: the message names the bad value and the valid choices."""


def unknown_choice(kind: str, value: object, choices: Iterable[str]) -> UserInputError:
    """An error for an unknown key, with a "did you mean" suggestion when one is close."""
    choices = sorted(choices)
    close = difflib.get_close_matches(str(value), choices, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UserInputError(f"unknown {kind} '{value}'{hint}; valid: {', '.join(choices)}")


def failure_text(exc: BaseException) -> str:
    """``Type: first line`` of a foreign failure, or the type alone where it says nothing (a bare
    ``KeyboardInterrupt``)."""
    detail = first_line(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def first_line(exc: BaseException, default: str = "") -> str:
    """The first non-blank line of an exception's message (``default`` when it has none): what a
    one-line error quotes of a foreign failure."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else default


def suggested_command(*args: object) -> str:
    """A `gdw-bench …` command to print for the user to paste, each argument shell-quoted
    (``shlex.join``): a value holding ``;``, a space or a quote is passed as one argument, never run."""

    return "gdw-bench " + shlex.join(str(a) for a in args)


def refuse_repeats(option: str, text: str, items, normal=lambda item: item) -> None:
    """One line when two of ``items`` are one value once normalised (``normal``: 50 and 50.0 are one
    number, ' gdw' and 'gdw' one key): a set of values the user typed names each value once."""
    seen: dict = {}
    for item in items:
        key = normal(item)
        if key in seen:
            same = f"'{seen[key]}' and '{item}' are" if str(seen[key]) != str(item) else f"'{item}' is"
            raise UserInputError(f"{option} '{text}' repeats a value ({same} one value); valid: each value once")
        seen[key] = item


def number_or_text(item):
    """A value's identity for ``refuse_repeats``: a number by its value (50, 50.0 and 5e1 alike; a bool is
    not a number), anything else by its type and text."""
    if isinstance(item, str):
        try:
            return ("number", float(item))
        except ValueError:
            return ("text", item.strip())
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return ("number", float(item))
    return (type(item).__name__, repr(item))


# What foreign code (a user's method or model file, an installed plugin) may raise while it is imported,
# reported as that plugin failing: besides errors, a ``sys.exit()`` or a ``KeyboardInterrupt`` it raises
# itself, which would otherwise end the whole command with no word of why.
FOREIGN_FAILURES = (Exception, SystemExit, KeyboardInterrupt)


@contextlib.contextmanager
def writing(target):
    """An output that cannot be written (read-only folder or filesystem, full disk, no permission, a file
    where a folder should be) is one line naming it; every file is written to a temporary name and renamed,
    so none is left half-written."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or target
        raise UserInputError(f"cannot write {where} ({exc.strerror or exc}); valid: a folder you can write, on a "
                             f"filesystem with room") from None
