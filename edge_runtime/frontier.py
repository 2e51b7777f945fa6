"""The accuracy / latency / size frontier over every student kind: which rows are on the Pareto front, and which
row to ship under a latency budget. Pure functions over plain dicts (no numpy), shared by the frontier benchmark,
which writes frontier.json, and by the HTML page that draws it (`edge_runtime.html.render_frontier_html`).

A row is a dict with at least "name", "accuracy" (a fraction) and the x key asked for ("p50_ms", "size_mb", ...);
rows missing either value are left out of the front and of every budget.

    >>> rows = [{"name": "a", "accuracy": 0.80, "p50_ms": 0.2}, {"name": "b", "accuracy": 0.84, "p50_ms": 1.5},
    ...         {"name": "c", "accuracy": 0.79, "p50_ms": 0.9}]
    >>> pareto_rows(rows, "p50_ms")
    ['a', 'b']
    >>> [(b["ms"], b["ship"]) for b in frontier_budgets(rows, [0.1, 1, 3])]
    [(0.1, None), (1, 'a'), (3, 'b')]
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from edgecore import ConfigError, DataError

#: the latency budgets (ms, batch 1) the frontier table answers for
DEFAULT_BUDGETS_MS = (0.1, 0.5, 1.0, 3.0, 10.0)
#: the keys frontier.json must have, and each row's
FRONTIER_KEYS = ("title", "setup", "teacher", "rows", "budgets")
ROW_KEYS = ("name", "kind", "accuracy", "p50_ms", "size_mb")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both (lower x, higher y), sorted by x.

    Equal points are all kept (none is strictly better than another).
    """
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def _value(row: dict, key: str) -> float | None:
    v = row.get(key)
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def pareto_rows(rows: Iterable[dict], x_key: str, y_key: str = "accuracy") -> list[str]:
    """Names of the rows on the front of (x_key lower is better, y_key higher is better), fastest/smallest first.

    >>> pareto_rows([{"name": "slow", "accuracy": 0.9, "size_mb": 9}, {"name": "small", "accuracy": 0.8, "size_mb": 1}], "size_mb")
    ['small', 'slow']
    """
    usable = [r for r in rows if _value(r, x_key) is not None and _value(r, y_key) is not None]
    for r in usable:
        if "name" not in r:
            raise DataError(f"a frontier row has no 'name' (keys: {', '.join(sorted(r))}); every row needs one")
    front = pareto_front([(_value(r, x_key), _value(r, y_key)) for r in usable])
    return [usable[i]["name"] for i in front]


def frontier_budgets(rows: Iterable[dict], budgets_ms: Iterable[float] = DEFAULT_BUDGETS_MS) -> list[dict]:
    """For each budget, the most accurate row with p50_ms <= budget (ties: the faster, then the smaller, then by name).

    Returns one {"ms", "ship", "accuracy", "p50_ms", "size_mb"} per budget, in the order given; "ship" (the row's name)
    and the figures are None when no row fits the budget.

    >>> frontier_budgets([{"name": "x", "accuracy": 0.8, "p50_ms": 0.4, "size_mb": 1.2}], [0.1, 0.5])[1]["ship"]
    'x'
    """
    budgets = list(budgets_ms)
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) or b <= 0:
            raise ConfigError(f"latency budget {b!r} is not a positive number of milliseconds; give e.g. [0.1, 0.5, 1, 3, 10]")
    usable = [r for r in rows if _value(r, "p50_ms") is not None and _value(r, "accuracy") is not None]
    for r in usable:
        if "name" not in r:
            raise DataError(f"a frontier row has no 'name' (keys: {', '.join(sorted(r))}); every row needs one")
    ranked = sorted(usable, key=lambda r: (-_value(r, "accuracy"), _value(r, "p50_ms"),
                                           _value(r, "size_mb") if _value(r, "size_mb") is not None else math.inf, str(r["name"])))
    out = []
    for b in budgets:
        pick = next((r for r in ranked if _value(r, "p50_ms") <= b), None)
        out.append({"ms": b, "ship": None if pick is None else pick["name"],
                    "accuracy": None if pick is None else _value(pick, "accuracy"),
                    "p50_ms": None if pick is None else _value(pick, "p50_ms"),
                    "size_mb": None if pick is None else _value(pick, "size_mb")})
    return out


def check_frontier(frontier: dict) -> None:
    """Raise DataError, naming what is missing, if `frontier` does not have the shape frontier.json has."""
    if not isinstance(frontier, dict):
        raise DataError(f"a frontier must be a dict (frontier.json's content), not {type(frontier).__name__}")
    missing = [k for k in FRONTIER_KEYS if k not in frontier]
    if missing:
        raise DataError(f"frontier has no {', '.join(repr(k) for k in missing)}; it needs {', '.join(FRONTIER_KEYS)}")
    if not isinstance(frontier["rows"], list):
        raise DataError(f"frontier 'rows' must be a list of row dicts, not {type(frontier['rows']).__name__}")
    for i, r in enumerate(frontier["rows"]):
        lacks = [k for k in ROW_KEYS if not isinstance(r, dict) or k not in r]
        if lacks:
            raise DataError(f"frontier row {i} has no {', '.join(repr(k) for k in lacks)}; each row needs {', '.join(ROW_KEYS)}")
    names = [r["name"] for r in frontier["rows"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"frontier row names must be unique (they key the plots and the budget table): {', '.join(map(str, dupes))} repeat")
    teacher = frontier["teacher"]
    if not isinstance(teacher, dict) or _value(teacher, "accuracy") is None:
        raise DataError("frontier 'teacher' needs a numeric 'accuracy' (and p50_ms_torch / p50_ms_int8 for its latency lines)")
