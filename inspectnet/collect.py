"""A project's ``inspectnet.toml`` collected as a test file: the spec is the test file.

pytest finds the file like any test file (``pytest``, ``pytest inspectnet.toml``, ``pytest -m parity``); its
items are the packaged suites (``inspectnet.suite``), imported by name from the installed package, so the
project holds no copy of them. Item ids start with the file (``inspectnet.toml::parity::test_parity[...]``),
hooks and fixtures of the project's conftest.py apply to them as to its own tests, and the project's
``python_functions`` setting does not hide them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest

from inspectnet.suite import SUITES


class SuiteModule(pytest.Module):
    """One packaged suite module, collected under the project file that asked for it."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(f"inspectnet.suite.{self.name}")

    def funcnamefilter(self, name: str) -> bool:
        return name.startswith("test_")

    def classnamefilter(self, name: str) -> bool:
        return name.startswith("Test")


class ProjectFile(pytest.File):
    """A project's ``inspectnet.toml``: its items are every packaged suite, judged by this file's criteria."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        for name in SUITES:
            yield SuiteModule.from_parent(self, path=self.path, name=name, nodeid=f"{self.nodeid}::{name}")


def is_inspectnet_item(item: Any) -> bool:
    """The item is InspectNet's: one of the packaged suites' (however it was collected), or a project's own
    test built on an InspectNet fixture. The plugin's skips and its criteria record apply to these only,
    never to the rest of a project's tests, whatever their markers."""
    function = getattr(item, "function", None)
    if getattr(function, "__module__", "").startswith("inspectnet.suite."):
        return True
    return any(name == "inspectnet" or name.startswith("inspectnet_") for name in getattr(item, "fixturenames", ()))


GROUPED = ("accuracy", "parity", "candidates")  # the criteria whose items run one category after another


def category_of(item: pytest.Item, categories: set[str]) -> str:
    """The dataset category a test is about (from its parameters: a run, a case tuple, a name), or ""."""
    callspec = getattr(item, "callspec", None)
    for value in callspec.params.values() if callspec is not None else ():
        found = getattr(value, "category", None)
        if found is None and isinstance(value, tuple) and value:
            found = value[0]
        if found is None and isinstance(value, str):
            found = value
        if isinstance(found, str) and found in categories:
            return found
    return ""


def by_category(items: list[pytest.Item], planned: Callable[[], set[str]]) -> None:
    """In place: InspectNet's accuracy, parity and candidate items one category after another (in the order the
    categories first appear; suites and tests in their own order within a category), so that one category's
    images, features and models are loaded once and dropped before the next. Items about no category (the
    self-checks, on the first category's model) stay with the first; every other item keeps its slot, and
    latency's cases keep their spread over the session. ``planned``: the run's categories, asked only when
    there are such items (it resolves the settings)."""
    slots = [
        i
        for i, item in enumerate(items)
        if is_inspectnet_item(item) and any(item.get_closest_marker(m) is not None for m in GROUPED)
    ]
    chosen = [items[i] for i in slots]
    if not chosen:
        return
    categories = planned()
    rank: dict[str, int] = {}
    for item in chosen:
        found = category_of(item, categories)
        if found:
            rank.setdefault(found, len(rank))
    ordered = sorted(chosen, key=lambda item: rank.get(category_of(item, categories), 0))
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item
