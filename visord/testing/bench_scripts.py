"""The scripts of bench/ as modules, for the tests of their helpers."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


@contextmanager
def bench_script(name: str) -> Iterator[ModuleType]:
    """bench/NAME.py loaded as `bench_NAME`, with its sibling `harness` importable as `python
    bench/NAME.py` has it. Both sit in sys.modules while in use (a dataclass looks its module up by
    name) and are taken out afterwards."""
    names = {"harness": BENCH / "harness.py", f"bench_{name}": BENCH / f"{name}.py"}
    before = {module: sys.modules.get(module) for module in names}
    try:
        for module_name, path in names.items():
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        yield sys.modules[f"bench_{name}"]
    finally:
        for module_name, old in before.items():
            if old is None:
                sys.modules.pop(module_name, None)
            else:
                sys.modules[module_name] = old
