"""The one exception type that the CLI turns into a one-line message and exit code 2."""
from __future__ import annotations

import difflib
from typing import Iterable


class UserInputError(ValueError):
    """Bad input from the user: the message names the bad value and the valid choices."""


def unknown_choice(kind: str, value: object, choices: Iterable[str]) -> UserInputError:
    """An error for an unknown key, with a "did you mean" suggestion when one is close."""
    choices = sorted(choices)
    close = difflib.get_close_matches(str(value), choices, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UserInputError(f"unknown {kind} '{value}'{hint}; valid: {', '.join(choices)}")


def first_line(exc: BaseException, default: str = "") -> str:
    """The first non-blank line of an exception's message (``default`` when it has none): what a
    one-line error quotes of a foreign failure."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else default
