"""Argument types shared by the benchmark commands."""

from __future__ import annotations


def positive_int(value: str) -> int:
    """A whole number of at least 1; argparse turns the ValueError into one
    line naming the option and the value (exit 2), never a traceback."""
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


positive_int.__name__ = "positive whole number"  # how argparse names the type in its error
