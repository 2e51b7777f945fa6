"""The range of every numeric option, shared by the CLI's flags and the Python API's configs.

Each value must be finite (no NaN, no inf) and within [low, high]; `low_open` makes the lower end exclusive (a
learning rate of 0 trains nothing). The upper ends are far above any useful value: they stop a typo (an extra
zero, a seed from a clock) from turning into minutes of allocation followed by an out-of-memory kill.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgecore.errors import ConfigError


@dataclass(frozen=True)
class Limit:
    low: float
    high: float
    low_open: bool = False      # True: value > low; False: value >= low

    def describe(self, integer: bool) -> str:
        if integer:
            low = self.low + 1 if self.low_open else self.low
            if low == 1:
                what = "a positive whole number"
            else:
                what = f"a whole number >= {low:g}"
            return f"{what}, at most {self.high:,.0f}"
        if self.low == 0 and self.low_open:
            return f"a positive finite number, at most {self.high:g}"
        if (self.low, self.high) == (0, 1):
            return "a number from 0 to 1"
        return f"a finite number {'>' if self.low_open else '>='} {self.low:g}, at most {self.high:g}"


LIMITS: dict[str, Limit] = {
    # training
    "epochs": Limit(0, 10_000, low_open=True),
    "stage1_epochs": Limit(1, 10_000),
    "lr": Limit(0, 10, low_open=True),
    "stage1_lr": Limit(0, 10, low_open=True),
    "temperature": Limit(0, 1_000, low_open=True),
    "alpha": Limit(0, 1),
    "assistant_weight": Limit(0, 1),
    "batch_size": Limit(1, 65_536),
    "max_len": Limit(8, 512),            # the teacher's positions (distill.TeacherConfig)
    "seed": Limit(0, 2**32 - 1),
    # student shape and transfer set
    "hidden": Limit(1, 8_192),
    "layers": Limit(1, 64),
    "embed_dim": Limit(1, 8_192),
    "intermediate": Limit(1, 65_536),
    "min_count": Limit(1, 1_000_000_000),
    "augment": Limit(0, 1_000),
    # export
    "validate": Limit(1, 10_000_000),
    "buckets": Limit(2, 8_192),
    # bench
    "runs": Limit(1, 10_000_000),
    "warmup": Limit(0, 10_000_000),
    "threads": Limit(1, 1_024),
    "batch": Limit(1, 65_536),
    "seq_len": Limit(2, 65_536),
    "min_seconds": Limit(0, 604_800),
    "max_seconds": Limit(0, 604_800),
    # data show
    "n": Limit(0, 1_000_000),
}


def check_number(name: str, value, integer: bool, limit: Limit | None = None) -> None:
    """Raise ConfigError naming `name` unless `value` is a finite number (a whole one if `integer`) within its limit."""
    limit = limit or LIMITS[name]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer and isinstance(value, float):
        ok = value.is_integer()
    if ok:
        ok = math.isfinite(value) and (value > limit.low if limit.low_open else value >= limit.low) and value <= limit.high
    if not ok:
        raise ConfigError(f"{name} must be {limit.describe(integer)} (got {value!r})")
