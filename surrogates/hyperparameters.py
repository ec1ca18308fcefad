"""What each hyperparameter of a model may be: one table per model, beside its constructor, and one check.

    class FNOSurrogate(GridSurrogate):
        limits = {"modes": Integer(), "hidden_channels": Integer(), "n_layers": Integer(),
                  "domain_padding": Number(0, 1), "positional_embedding": Flag(), ...}

A table maps a hyperparameter to its limit, or to a tuple of limits checked in order. `Rule` ties a field
to others (GIOROM's heads divide its latent width; a U-Net level's width is a multiple of its groups);
rules run after every field's own limits, so they may assume those hold.

`check_hyperparameters(limits, values)` fails on the first value outside its limits with a `SurrolabError`
that names the field, the value and what is allowed ("modes=-4 is not allowed: it must be an integer >= 1").
Every model's constructor calls it on its arguments, and `train_run.check_settings` calls it on the
`--set` values before a dataset is read, so a bad value is refused at the edge, never discovered by torch.
Fields absent from `values` are not checked.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from surrolab.errors import SurrolabError


def _refuse(name: str, value, allowed: str):
    raise SurrolabError(f"{name}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class Integer:
    """An integer >= `minimum` (not a bool), optionally even or odd."""

    minimum: int = 1
    parity: str | None = None  # "even", "odd" or None

    def allowed(self) -> str:
        return f"it must be an {self.parity + ' ' if self.parity else ''}integer >= {self.minimum}"

    def check(self, name: str, value, values: dict) -> None:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= self.minimum
        if ok and self.parity is not None:
            ok = value % 2 == (0 if self.parity == "even" else 1)
        if not ok:
            _refuse(name, value, self.allowed())


@dataclass(frozen=True)
class Number:
    """A finite real number in the interval from `low` to `high`, each end closed unless said open."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def allowed(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            return "it must be a finite number"
        if self.high == math.inf:
            return f"it must be a finite number {'>' if self.low_open else '>='} {self.low:g}"
        if self.low == -math.inf:
            return f"it must be a finite number {'<' if self.high_open else '<='} {self.high:g}"
        return (f"it must be a finite number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")

    def holds(self, value) -> bool:
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def check(self, name: str, value, values: dict) -> None:
        if not self.holds(value):
            _refuse(name, value, self.allowed())


@dataclass(frozen=True)
class Numbers:
    """A non-empty sequence of numbers, each within `each` (on the command line: comma-separated)."""

    each: Number

    def check(self, name: str, value, values: dict) -> None:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value \
                or not all(self.each.holds(v) for v in value):
            _refuse(name, value, "it must be a non-empty list of numbers (1,2,2 on the command line), each "
                    + self.each.allowed().removeprefix("it must be "))


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def check(self, name: str, value, values: dict) -> None:
        if value not in self.options:
            _refuse(name, value, f"use one of {', '.join(self.options)}")


@dataclass(frozen=True)
class Flag:
    def check(self, name: str, value, values: dict) -> None:
        if not isinstance(value, bool):
            _refuse(name, value, "it must be true or false")


@dataclass(frozen=True)
class Rule:
    """A limit that ties a field to others: `holds(values)` must be true; `allowed` says what is allowed,
    formatted with the values (`"it must divide latent={latent}"`), or is a function of them."""

    holds: Callable[[dict], bool]
    allowed: str | Callable[[dict], str]

    def check(self, name: str, value, values: dict) -> None:
        if not self.holds(values):
            _refuse(name, value, self.allowed(values) if callable(self.allowed) else self.allowed.format(**values))


def check_hyperparameters(limits: dict, values: dict, prefix: str = "") -> None:
    """Fail on the first of `values` outside its limits (see the module docstring); `prefix` goes before
    each field's name in the message (`base.` for CAPE's base model)."""
    entries = [(field, limit) for field, entry in limits.items() if field in values
               for limit in (entry if isinstance(entry, tuple) else (entry,))]
    for rules in (False, True):  # every field's own limits first, then the rules that tie fields together
        for field, limit in entries:
            if isinstance(limit, Rule) == rules:
                limit.check(prefix + field, values[field], values)
