"""The profile's ``[plan]``: the methods, categories, seeds and coreset ratios a session trains and judges."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspectnet.criteria.tables import CriteriaError, checked_table
from inspectnet.names import METHODS, Method, RunKey, as_method, is_method


@dataclass(frozen=True)
class Plan:
    methods: tuple[Method, ...]
    categories: tuple[str, ...]
    seeds: tuple[int, ...]
    coreset: float
    extra_seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)
    coreset_sweep: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def base_run(self, method: str, category: str) -> RunKey:
        """The model a category's latency and parity are measured on: first seed, the plan's coreset."""
        return RunKey(as_method(method), category, self.seeds[0])

    def coreset_of(self, run: RunKey) -> float | None:
        """The coreset ratio ``run`` is trained at: its sweep ratio, else the plan's (PatchCore only)."""
        if run.method != "patchcore":
            return None
        return run.coreset if run.coreset is not None else self.coreset

    def runs(self, categories: list[str] | None = None, seeds: list[int] | None = None) -> list[RunKey]:
        """Every model the plan trains, restricted to ``categories``; ``seeds`` replaces the plan's seeds."""
        keys: list[RunKey] = []
        for category in categories or list(self.categories):
            for method in self.methods:
                if seeds is not None:
                    run_seeds = tuple(seeds)
                elif method == "patchcore":
                    run_seeds = self.seeds + tuple(s for s in self.extra_seeds.get(category, ()) if s not in self.seeds)
                else:
                    run_seeds = self.seeds
                keys.extend(RunKey(method, category, s) for s in run_seeds)
                if method == "patchcore":
                    sweep = self.coreset_sweep.get(category, ())
                    keys.extend(RunKey(method, category, run_seeds[0], c) for c in sweep if c != self.coreset)
        return keys

    def judged(
        self,
        given: Iterable[RunKey],
        categories: Iterable[str] | None,
        seeds: Iterable[int] | None,
        train_missing: bool,
    ) -> list[RunKey]:
        """The runs a session judges: the given checkpoints' runs (and, with ``train_missing``, the plan's runs
        of the categories without one); the plan's runs when no checkpoint was given."""
        planned = self.runs(list(categories) if categories else None, list(seeds) if seeds else None)
        given = list(given)
        if not given:
            return planned
        have = {r.category for r in given}
        return given + ([r for r in planned if r.category not in have] if train_missing else [])


def parse_plan(path: Path, data: dict[str, Any]) -> Plan:
    keys = ("methods", "categories", "seeds", "coreset", "extra_seeds", "coreset_sweep")
    plan = checked_table(path, data.get("plan"), keys, "plan")
    methods: list[Method] = []
    for m in plan.get("methods", METHODS):
        if not is_method(m):
            raise CriteriaError(f"{path}: plan.methods: unknown method {m!r} (known: {', '.join(METHODS)})")
        methods.append(m)
    categories = tuple(plan.get("categories", ()))
    if not categories:
        raise CriteriaError(f"{path}: plan.categories is empty; list the categories to run")
    seeds = tuple(int(s) for s in plan.get("seeds", (0,)))
    coreset = float(plan.get("coreset", 0.01))
    extra = {
        c: tuple(int(s) for s in v)
        for c, v in checked_table(path, plan.get("extra_seeds"), categories, "plan.extra_seeds").items()
    }
    sweep = {
        c: tuple(float(r) for r in v)
        for c, v in checked_table(path, plan.get("coreset_sweep"), categories, "plan.coreset_sweep").items()
    }
    for ratio in (coreset, *(r for v in sweep.values() for r in v)):
        if not 0 < ratio <= 1:
            raise CriteriaError(f"{path}: coreset ratio {ratio} is not in (0, 1]")
    return Plan(tuple(methods), categories, seeds, coreset, extra, sweep)
