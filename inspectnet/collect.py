"""A project's ``inspectnet.toml`` collected as a test file: the spec is the test file.

pytest finds the file like any test file (``pytest``, ``pytest inspectnet.toml``, ``pytest -m parity``); its
items are the packaged suites (``inspectnet.suite``), imported by name from the installed package, so the
project holds no copy of them. Item ids start with the file (``inspectnet.toml::parity::test_parity[...]``),
hooks and fixtures of the project's conftest.py apply to them as to its own tests, and the project's
``python_functions`` setting does not hide them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
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
