"""Deployment candidates: which cheaper models to build from the FP32 deployed model, and what each must meet.

In a profile::

    [candidates]
    calibration_images = 60            # train/good images NNCF quantises from (never the test split)
    fail_on_reject = true              # false: a rejected candidate is recorded and reported, the test passes
    max_drop = { image_auroc = 0.005, pixel_auroc = 0.005, aupro = 0.01 }
    min_label_agreement = 0.95         # share of test images whose label equals the FP32 model's
    [candidates.int8-fp32-search]      # one table per candidate to build; its keys override the shared ones
    min_speedup = 1.2

A candidate with no table is not built. Speed-up is FP32 OpenVINO's median over the candidate's, timed
alternately in one process; size ratio is the candidate's files over the FP32 IR's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inspectnet.names import CANDIDATES, METRICS

SHARED = ("calibration_images", "fail_on_reject", "note")
LIMITS = ("max_drop", "min_label_agreement", "min_mask_iou", "min_speedup", "max_size_ratio")
DEFAULT_DROP = {"image_auroc": 0.005, "pixel_auroc": 0.005, "aupro": 0.01}


@dataclass(frozen=True)
class CandidateCriteria:
    """What one candidate must meet against its FP32 model; a limit left None is measured, not judged."""

    name: str
    max_drop: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DROP))
    min_label_agreement: float | None = None
    min_mask_iou: float | None = None
    min_speedup: float | None = None
    max_size_ratio: float | None = None


@dataclass(frozen=True)
class CandidatesProfile:
    calibration_images: int = 60
    fail_on_reject: bool = True
    build: dict[str, CandidateCriteria] = field(default_factory=dict)  # in the profile's order


def _number(path: Path, where: str, value: Any, low: float, high: float | None = None) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= low
    if not ok or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{path}: {where} must be a number {bound}, got {value!r}")
    return float(value)


def _limits(path: Path, where: str, table: dict[str, Any], base: CandidateCriteria) -> CandidateCriteria:
    out = base
    for key, value in table.items():
        if key == "max_drop":
            if not isinstance(value, dict):
                raise ValueError(f"{path}: {where}.max_drop must be a table like {{ image_auroc = 0.005 }}")
            drops = dict(base.max_drop)
            for metric, drop in value.items():
                if metric not in METRICS:
                    raise ValueError(f"{path}: unknown key {where}.max_drop.{metric} (known: {', '.join(METRICS)})")
                drops[metric] = _number(path, f"{where}.max_drop.{metric}", drop, 0.0, 1.0)
            out = replace(out, max_drop=drops)
        elif key == "min_label_agreement":
            out = replace(out, min_label_agreement=_number(path, f"{where}.{key}", value, 0.0, 1.0))
        elif key == "min_mask_iou":
            out = replace(out, min_mask_iou=_number(path, f"{where}.{key}", value, 0.0, 1.0))
        elif key == "min_speedup":
            out = replace(out, min_speedup=_number(path, f"{where}.{key}", value, 1e-9))
        elif key == "max_size_ratio":
            out = replace(out, max_size_ratio=_number(path, f"{where}.{key}", value, 1e-9))
    return out


def parse_candidates(path: Path, data: Any) -> CandidatesProfile:
    """``[candidates]`` of a profile; raises ValueError naming the key. Absent: nothing is built."""
    if data is None:
        return CandidatesProfile()
    if not isinstance(data, dict):
        raise ValueError(f"{path}: candidates must be a table")
    for key, value in data.items():
        if key not in (*SHARED, *LIMITS, *CANDIDATES):
            known = ", ".join((*SHARED, *LIMITS, *CANDIDATES))
            raise ValueError(f"{path}: unknown key candidates.{key} (known: {known})")
        if key in CANDIDATES and not isinstance(value, dict):
            raise ValueError(f'{path}: candidates.{key} must be a table (e.g. [candidates."{key}"])')
    images = data.get("calibration_images", 60)
    if not isinstance(images, int) or isinstance(images, bool) or images < 1:
        raise ValueError(f"{path}: candidates.calibration_images must be an integer >= 1, got {images!r}")
    fail = data.get("fail_on_reject", True)
    if not isinstance(fail, bool):
        raise ValueError(f"{path}: candidates.fail_on_reject must be true or false, got {fail!r}")
    shared = _limits(path, "candidates", {k: v for k, v in data.items() if k in LIMITS}, CandidateCriteria(""))
    build = {}
    for name in (k for k in data if k in CANDIDATES):
        table = data[name]
        unknown = [k for k in table if k not in (*LIMITS, "note")]
        if unknown:
            known = ", ".join((*LIMITS, "note"))
            raise ValueError(f"{path}: unknown key candidates.{name}.{unknown[0]} (known: {known})")
        build[name] = _limits(path, f"candidates.{name}", table, replace(shared, name=name))
    return CandidatesProfile(images, fail, build)
