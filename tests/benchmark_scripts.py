"""The benchmark scripts are not a package: tests load one by its path, as `python benchmarks/NAME.py` would run it."""
from __future__ import annotations

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(relative: str):
    """The module at benchmarks/`relative` (e.g. "frontier_table.py", "peers/fast_timing.py"), freshly executed."""
    path = BENCHMARKS / relative
    spec = importlib.util.spec_from_file_location(f"{path.stem}_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
