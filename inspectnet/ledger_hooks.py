"""The pytest side of ``inspectnet.ledger``: registered only when ``INSPECTNET_LEDGER`` names a folder (the
whole-card benchmark sets it), it books each test's wall time (setup, call, teardown) to the test's suite and
category, opens a memory segment per category, and writes the ledger when pytest exits."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from inspectnet import ledger
from inspectnet.collect import category_of


def suite_of(item: pytest.Item) -> str:
    """The suite a test belongs to: the module its function is defined in (``inspectnet.suite.parity`` ->
    ``parity``, ``benchmarks/test_latency.py`` -> ``latency``)."""
    function = getattr(item, "function", None)
    module = getattr(function, "__module__", None) or item.nodeid.split("::")[0]
    return module.replace("/", ".").removesuffix(".py").rsplit(".", 1)[-1].removeprefix("test_")


class LedgerHooks:
    def __init__(self, path: Path, categories: Callable[[], set[str]]) -> None:
        self.path = path / f"{os.getpid()}.json"
        self.categories = categories  # asked at each test: the settings are resolved by then
        self.ledger = ledger.open_ledger()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        category = category_of(item, self.categories())
        suite = suite_of(item)
        self.ledger.test_starts(suite, category)
        with self.ledger.phase(suite):
            return (yield)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if ledger.current() is self.ledger:
            ledger.close_ledger()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ledger.write(self.path)


def register(config: pytest.Config, categories: Callable[[], set[str]]) -> None:
    """Book this process's time and memory when the benchmark asked for it (never in an xdist worker)."""
    path = ledger.requested()
    if path is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(LedgerHooks(path, categories), "inspectnet-ledger")
