"""The one error type that the CLI turns into a one-line message and a non-zero exit code."""

import math


class SurrolabError(Exception):
    """Bad input or a broken file: the message names what is wrong and what is allowed."""


def check_range(field: str, value: float, low: float, high: float, *, unit: str = "") -> float:
    """Fail with a message naming the field, the value and the allowed closed interval."""
    if not (low <= value <= high):  # also rejects NaN
        unit = f" {unit}" if unit else ""
        raise SurrolabError(f"{field}={value!r} is out of range: allowed [{low:g}, {high:g}]{unit}")
    return value


def check_positive_number(field: str, value: float, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (>= 0 with `allow_zero`), not a bool."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise SurrolabError(f"{field}={value!r} is not allowed: it must be a finite number {bound}")
    return float(value)


def check_positive_int(field: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SurrolabError(f"{field}={value!r} is not allowed: it must be an integer >= {minimum}")
    return value
