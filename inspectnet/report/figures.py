"""Report figures: ROC/PRO curves, latency distributions and worst-case grids, as deterministic PNG files.

Matplotlib is imported lazily and used through ``Figure`` + ``FigureCanvasAgg`` only (no pyplot global state).
Every figure has a fixed size and dpi and is saved without software/date metadata, so the same inputs give the
same bytes on the same machine. Files are written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inspectnet._io import atomic_write_bytes
from inspectnet.measure.curves import floats

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

DPI = 100
CURVES_SIZE = (10.0, 4.5)  # inches: 1000 x 450 pixels
LATENCY_SIZE = (12.0, 5.0)  # inches: 1200 x 500 pixels
CASE_COLUMN_WIDTH = 2.2  # inches per column (three columns: 660 pixels wide)
CASE_ROW_HEIGHT = 2.2  # inches per case row (220 pixels per case)
_PALETTE = "tab10"
_HEATMAP = "jet"


@dataclass(frozen=True)
class Case:
    """One row of a cases figure."""

    title: str  # e.g. "worst normal: good/003.png, score 0.61"
    image: np.ndarray  # H x W x 3 uint8 (or H x W uint8 grayscale)
    anomaly_map: np.ndarray  # H x W float
    mask: np.ndarray  # H x W bool


# --------------------------------------------------------------------------- common helpers


def _new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> None:
    """Render ``figure`` to PNG bytes (no metadata that varies) and write them atomically to ``path``."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())


def _colour(index: int) -> Any:
    from matplotlib import colormaps

    cmap = colormaps[_PALETTE]
    return cmap(index % cmap.N)


def _xy(curve: Mapping[str, Sequence[float]], x_key: str, y_key: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    missing = [key for key in (x_key, y_key) if key not in curve]
    if missing:
        raise ValueError(f"{what}: missing {', '.join(repr(key) for key in missing)}")
    x = floats(curve[x_key], f"{what} {x_key!r}")
    y = floats(curve[y_key], f"{what} {y_key!r}")
    if x.size != y.size:
        raise ValueError(f"{what}: {x_key!r} has {x.size} points but {y_key!r} has {y.size}")
    return x, y


# --------------------------------------------------------------------------- curves


_Curve = tuple[np.ndarray, np.ndarray]


def _check_curves(
    curves: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
) -> tuple[dict[str, _Curve], dict[str, _Curve]]:
    """Validate ``curves``; return the ROC and PRO curves by label (in the input's order)."""
    if not curves:
        raise ValueError("curves_figure: no curves given")
    roc: dict[str, _Curve] = {}
    pro: dict[str, _Curve] = {}
    for label, entry in curves.items():
        unknown = sorted(set(entry) - {"roc", "pro"})
        if unknown:
            raise ValueError(f"curves_figure: {label!r} has unknown curve kinds {unknown} (expected 'roc', 'pro')")
        if not entry:
            raise ValueError(f"curves_figure: {label!r} has neither a 'roc' nor a 'pro' curve")
        if "roc" in entry:
            roc[label] = _xy(entry["roc"], "fpr", "tpr", f"curves_figure: {label!r} roc")
        if "pro" in entry:
            pro[label] = _xy(entry["pro"], "fpr", "pro", f"curves_figure: {label!r} pro")
    return roc, pro


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _roc_panel(ax: Axes, roc: Mapping[str, _Curve], colours: Mapping[str, Any]) -> None:
    ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", linewidth=0.8, color="grey", label="chance")
    for label, (x, y) in roc.items():
        ax.plot(x, y, linewidth=1.4, color=colours[label], label=label)
    if not roc:
        _no_data(ax, "no ROC curve")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("false positive rate (images)")
    ax.set_ylabel("true positive rate (images)")
    ax.set_title("ROC, image level")
    ax.set_aspect("equal")
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.legend(loc="lower right", fontsize="small")


def _pro_panel(ax: Axes, pro: Mapping[str, _Curve], colours: Mapping[str, Any]) -> None:
    limit = max((float(x.max()) for x, _ in pro.values()), default=0.0)
    for label, (x, y) in pro.items():
        ax.plot(x, y, linewidth=1.4, color=colours[label], label=label)
    if pro:
        ax.legend(loc="lower right", fontsize="small")
    else:
        _no_data(ax, "no PRO curve")
    ax.set_xlim(0.0, limit if limit > 0.0 else 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("false positive rate (pixels)")
    ax.set_ylabel("per-region overlap")
    ax.set_title(f"PRO, pixel level (FPR up to {limit:g})" if pro else "PRO, pixel level")
    ax.grid(True, linewidth=0.4, alpha=0.5)


def curves_figure(category: str, curves: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]], path: Path) -> None:
    """ROC (image level) and PRO (pixel level, FPR up to its limit) curves of several models on one category.

    ``curves`` maps a legend label (e.g. "PatchCore seed0", "PaDiM") to {"roc": {"fpr": [...], "tpr": [...]},
    "pro": {"fpr": [...], "pro": [...]}}; either "roc" or "pro" may be missing for a label. Two panels side by
    side: left ROC (diagonal chance line, axes 0..1), right PRO (x axis 0..max fpr given, y 0..1).
    The figure is 1000 x 450 pixels; a label has the same colour in both panels.
    """
    roc, pro = _check_curves(curves)
    colours = {label: _colour(i) for i, label in enumerate(curves)}
    figure = _new_figure(CURVES_SIZE)
    left, right = figure.subplots(1, 2)
    _roc_panel(left, roc, colours)
    _pro_panel(right, pro, colours)
    figure.suptitle(category)
    _save(figure, path)


# --------------------------------------------------------------------------- latency


def _check_samples(samples: Mapping[str, Mapping[str, Sequence[float]]]) -> dict[str, dict[str, np.ndarray]]:
    if not samples:
        raise ValueError("latency_figure: no samples given")
    checked: dict[str, dict[str, np.ndarray]] = {}
    for category, by_runtime in samples.items():
        if not by_runtime:
            raise ValueError(f"latency_figure: category {category!r} has no runtimes")
        checked[category] = {}
        for runtime, values in by_runtime.items():
            array = floats(values, f"latency_figure: samples[{category!r}][{runtime!r}]")
            if np.any(array < 0):
                raise ValueError(f"latency_figure: samples[{category!r}][{runtime!r}] has negative milliseconds")
            checked[category][runtime] = array
    return checked


def _runtimes(samples: Mapping[str, Mapping[str, np.ndarray]]) -> list[str]:
    """Runtimes in order of first appearance over the categories."""
    order: dict[str, None] = {}
    for by_runtime in samples.values():
        order.update(dict.fromkeys(by_runtime))
    return list(order)


def _boxes(ax: Axes, samples: Mapping[str, Mapping[str, np.ndarray]], runtimes: Sequence[str]) -> None:
    slot = len(runtimes) + 1  # one empty slot between category groups
    for j, runtime in enumerate(runtimes):
        present = [(i, cat[runtime]) for i, cat in enumerate(samples.values()) if runtime in cat]
        box = ax.boxplot(
            [values for _, values in present],
            positions=[i * slot + j for i, _ in present],
            widths=0.7,
            patch_artist=True,
            manage_ticks=False,
            flierprops={"markersize": 2.5},
            medianprops={"color": "black"},
        )
        for patch in box["boxes"]:
            patch.set_facecolor(_colour(j))
    ax.set_xticks([i * slot + (len(runtimes) - 1) / 2 for i in range(len(samples))])
    ax.set_xticklabels(
        list(samples), rotation=30 if len(samples) > 6 else 0, ha="right" if len(samples) > 6 else "center"
    )
    ax.set_xlim(-1, len(samples) * slot - 1)


def _runtime_legend(ax: Axes, runtimes: Sequence[str]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=_colour(j), edgecolor="black", label=runtime) for j, runtime in enumerate(runtimes)]
    ax.legend(handles=handles, title="runtime", loc="upper left", fontsize="small")


def latency_figure(device: str, samples: Mapping[str, Mapping[str, Sequence[float]]], path: Path) -> None:
    """Latency distributions on one device: ``samples[category][runtime]`` = per-call milliseconds.

    One box plot per (category, runtime), grouped by category, runtimes distinguished by colour with a legend;
    y axis 'ms per call (batch 1)' from 0; title names the device. The figure is 1200 x 500 pixels.
    """
    checked = _check_samples(samples)
    runtimes = _runtimes(checked)
    figure = _new_figure(LATENCY_SIZE)
    ax = figure.subplots()
    _boxes(ax, checked, runtimes)
    _runtime_legend(ax, runtimes)
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("ms per call (batch 1)")
    ax.set_xlabel("category")
    ax.set_title(f"Latency on {device}")
    ax.grid(True, axis="y", linewidth=0.4, alpha=0.5)
    _save(figure, path)


# --------------------------------------------------------------------------- accuracy against cost

TRADEOFF_PANEL = (4.0, 4.0)  # inches per category panel


@dataclass(frozen=True)
class Point:
    """One model on the accuracy / cost plot."""

    label: str  # e.g. "OpenVINO f32", "int8-fp32-search"
    median_ms: float
    image_auroc: float
    fp32: bool  # an FP32 runtime (filled marker) or a candidate (hollow)


def tradeoff_figure(points: Mapping[str, Sequence[Point]], path: Path) -> None:
    """Image AUROC against median latency, one panel per category: FP32 runtimes as filled markers, candidates
    hollow, one colour per model with a legend below. 400 pixels per category (at least 640), 400 high."""
    from matplotlib.lines import Line2D

    if not points or any(not p for p in points.values()):
        raise ValueError("tradeoff_figure: every category needs at least one point")
    labels = list(dict.fromkeys(p.label for ps in points.values() for p in ps))
    fp32 = {p.label: p.fp32 for ps in points.values() for p in ps}
    figure = _new_figure((max(6.4, TRADEOFF_PANEL[0] * len(points)), TRADEOFF_PANEL[1]))
    axes = figure.subplots(1, len(points), squeeze=False)[0]
    for ax, (category, mine) in zip(axes, points.items(), strict=True):
        for p in mine:
            colour = _colour(labels.index(p.label))
            face = colour if p.fp32 else "none"
            ax.scatter([p.median_ms], [p.image_auroc], s=50, facecolors=[face], edgecolors=[colour], linewidths=1.6)
        ax.set_xlim(left=0.0, right=max(p.median_ms for p in mine) * 1.15)
        ax.set_xlabel("median ms per call (batch 1)")
        ax.set_title(category)
        ax.grid(True, linewidth=0.4, alpha=0.5)
    axes[0].set_ylabel("image AUROC")
    handles = [
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=7,
            markerfacecolor=_colour(i) if fp32[label] else "none",
            markeredgecolor=_colour(i),
            label=label,
        )
        for i, label in enumerate(labels)
    ]
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(labels), 4), fontsize="small")
    figure.suptitle("Accuracy against latency (filled: FP32 runtimes; hollow: candidates)")
    _save(figure, path)


# --------------------------------------------------------------------------- cases


def _check_case(case: Case) -> None:
    what = f"cases_figure: case {case.title!r}"
    image, amap, mask = np.asarray(case.image), np.asarray(case.anomaly_map), np.asarray(case.mask)
    if image.dtype != np.uint8:
        raise ValueError(f"{what}: image must be uint8, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"{what}: image must be H x W x 3 or H x W, got shape {image.shape}")
    if amap.ndim != 2 or not np.issubdtype(amap.dtype, np.number) or np.iscomplexobj(amap):
        raise ValueError(f"{what}: anomaly map must be a 2-D real array, got shape {amap.shape} {amap.dtype}")
    if not np.all(np.isfinite(amap)):
        raise ValueError(f"{what}: anomaly map contains NaN or infinite values")
    if mask.dtype != np.bool_:
        raise ValueError(f"{what}: mask must be bool, got {mask.dtype}")
    if image.shape[:2] != amap.shape or mask.shape != amap.shape:
        raise ValueError(
            f"{what}: shape mismatch: image {image.shape[:2]}, anomaly map {amap.shape}, mask {mask.shape}"
        )


def _map_range(cases: Sequence[Case]) -> tuple[float, float]:
    """The colour range shared by every row: min and max over all anomaly maps (widened when constant)."""
    low = min(float(np.min(case.anomaly_map)) for case in cases)
    high = max(float(np.max(case.anomaly_map)) for case in cases)
    if high <= low:
        return low - 0.5, high + 0.5
    return low, high


def _show_image(ax: Axes, image: np.ndarray) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")


def _case_row(row: SubFigure, case: Case, limits: tuple[float, float], first: bool) -> None:
    axes: Sequence[Axes] = row.subplots(1, 3)
    _show_image(axes[0], np.asarray(case.image))
    gray = np.asarray(case.image) if case.image.ndim == 2 else np.asarray(case.image).mean(axis=2)
    axes[1].imshow(gray, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    heat = axes[1].imshow(
        np.asarray(case.anomaly_map, dtype=np.float64),
        cmap=_HEATMAP,
        vmin=limits[0],
        vmax=limits[1],
        alpha=0.5,
        interpolation="nearest",
    )
    row.colorbar(heat, ax=axes[1], fraction=0.046, pad=0.02)
    axes[2].imshow(np.asarray(case.mask, dtype=np.uint8), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for ax, name in zip(axes, ("image", "anomaly map", "ground truth"), strict=True):
        ax.set_xticks([])
        ax.set_yticks([])
        if first:
            ax.set_title(name, fontsize="small")
    row.suptitle(case.title, fontsize="medium")


def cases_figure(category: str, cases: Sequence[Case], path: Path) -> None:
    """A grid: one row per case, three columns: the test image, the anomaly map, the ground-truth mask.

    The anomaly map is a heat map over the (grayscale) image; its colour range is fixed per figure to the
    min/max over all cases so rows are comparable. Row titles come from ``Case.title``. The figure is
    900 pixels wide and 300 pixels high per case, plus 30 pixels for the category title.
    """
    if not cases:
        raise ValueError("cases_figure: no cases given")
    for case in cases:
        _check_case(case)
    limits = _map_range(cases)
    height = CASE_ROW_HEIGHT * len(cases) + 0.3
    figure = _new_figure((3 * CASE_COLUMN_WIDTH, height))
    rows = figure.subfigures(len(cases), 1, squeeze=False)[:, 0]
    for index, (row, case) in enumerate(zip(rows, cases, strict=True)):
        _case_row(row, case, limits, first=index == 0)
    figure.suptitle(category)
    _save(figure, path)


__all__ = ["Case", "Point", "cases_figure", "curves_figure", "latency_figure", "tradeoff_figure"]
