"""The project file ``inspectnet init`` writes (``inspectnet.toml``), as text: the request and measurements it
is written from, TOML quoting, and its tables ([run], [plan], the criteria, latency floors, parity, gate and
candidates). The criteria are measured values or placeholders; the rest is read from the packaged MVTec AD
profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inspectnet.criteria import Profile, load_profile, packaged
from inspectnet.data.licences import DatasetIdentity
from inspectnet.models.weights import parse_weights
from inspectnet.names import METHODS, METRICS

if TYPE_CHECKING:
    from inspectnet.harness.given import GivenModel

TODO = "set min, or reference and tolerance, from your model card"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class InitRequest:
    """The ``inspectnet init`` arguments. Relative paths are relative to the invocation directory, but for
    ``baseline`` (a path in the CI's checkout: relative to ``project``); the files written hold them relative to
    ``project`` where they lie inside it."""

    project: Path
    data_root: Path
    model_dir: Path | None = None
    models: tuple[tuple[str, Path], ...] = ()
    dataset: str = "folder"
    dataset_licence: str | None = None
    weights: str | None = None
    from_current: bool = False
    tolerance: float = 0.02
    baseline: Path = Path("reports")
    latency_runner: str = "ubuntu-latest"


@dataclass(frozen=True)
class Measurement:
    """One method on one category as measured now: each metric (the mean over its checkpoints' seeds)."""

    metrics: dict[str, float]
    given: tuple[GivenModel, ...]
    device: str


# --- TOML text -------------------------------------------------------------------------------------------------


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string."""
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(name: str) -> str:
    """A key bare where TOML allows it (``bottle``), quoted otherwise (``"metal.nut"``)."""
    return name if _BARE_KEY.fullmatch(name) else toml_string(name)


def _num(value: float) -> str:
    """A number as written in the packaged profile's value (shortest round-trip form)."""
    return str(value) if isinstance(value, int) else repr(float(value))


def _list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(toml_string(i) for i in items) + "]"


def _inline(values: dict[str, float]) -> str:
    return "{ " + ", ".join(f"{toml_key(k)} = {_num(v)}" for k, v in values.items()) + " }"


def shown(path: Path, project: Path) -> str:
    """``path`` as the project's files hold it: relative to ``project`` when inside it, else absolute."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(project.resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()


# --- the project file ------------------------------------------------------------------------------------------


def _methods(given: tuple[GivenModel, ...]) -> tuple[str, ...]:
    found = {g.run.method for g in given}
    return tuple(m for m in METHODS if m in found)


def _categories(given: tuple[GivenModel, ...]) -> tuple[str, ...]:
    return tuple(sorted({g.run.category for g in given}))


def _run_table(request: InitRequest) -> list[str]:
    p = request.project
    lines = [
        "# How this project's models are run: each key is the default of the pytest option of the same name",
        "# (data_root: --inspectnet-data-root); an option given on the command line wins. Paths are relative to",
        "# this file.",
        "[run]",
        f"dataset = {toml_string(request.dataset)}",
        f"data_root = {toml_string(shown(request.data_root, p))}",
    ]
    if request.dataset_licence is not None:
        lines.append(f"dataset_licence = {toml_string(request.dataset_licence)}")
    if request.weights is not None:
        spec = parse_weights(request.weights)
        text = shown(spec.path, p) if spec.path is not None else str(spec)
        lines.append(f"weights = {toml_string(text)}")
    if request.model_dir is not None:
        lines.append(f"model_dir = {toml_string(shown(request.model_dir, p))}")
    if request.models:
        entries = ", ".join(f"{toml_key(c)} = {toml_string(shown(path, p))}" for c, path in request.models)
        lines.append(f"models = {{ {entries} }}")
    return [*lines, ""]


def _criteria_tables(
    request: InitRequest,
    given: tuple[GivenModel, ...],
    measured: dict[tuple[str, str], Measurement] | None,
    when: str,
) -> list[str]:
    lines: list[str] = []
    if measured is None:
        lines += [
            "# Placeholders: every accuracy test fails, naming its metric's value, until you replace each with your",
            "# model card's number: { min = X }, or { reference = R, tolerance = T } (the minimum is then R - T).",
            "# (Or delete this file and run `inspectnet init ... --from-current` to write today's values.)",
        ]
    else:
        lines += [
            f"# Measured by `inspectnet init --from-current` on {when}: each reference is the current model's",
            f"# value (4 decimals), and a model more than the tolerance ({_num(request.tolerance)}) below it fails.",
        ]
    for category in _categories(given):
        for method in _methods(given):
            mine = tuple(g for g in given if (g.run.method, g.run.category) == (method, category))
            if not mine:
                continue
            lines.append("")
            if measured is not None:
                m = measured[(method, category)]
                for g in mine:
                    c = g.checkpoint
                    lines.append(
                        f"# seed {g.run.seed}: {shown(c.path, request.project)} (sha256 {c.sha256[:16]}), on {m.device}"
                    )
                if len(mine) > 1:
                    lines.append(f"# the reference is the mean over these {len(mine)} checkpoints")
            lines.append(f"[criteria.{method}.{toml_key(category)}]")
            for metric in METRICS:
                if measured is None:
                    lines.append(f"{metric} = {{ todo = {toml_string(TODO)} }}")
                else:
                    value = measured[(method, category)].metrics[metric]
                    lines.append(f"{metric} = {{ reference = {value:.4f}, tolerance = {_num(request.tolerance)} }}")
    return [*lines, ""]


def _latency_tables(packaged_profile: Profile) -> list[str]:
    from inspectnet.criteria.latency import EVERY

    lines = [
        "# Latency, the portable floor: layer efficiency = the runtime's own time for the model's convolutions and",
        "# matrix products (each timed alone) / the model's median latency. It catches a grossly misconfigured",
        "# runtime (one thread, a debug build) on any machine; the values are InspectNet's packaged MVTec AD",
        "# profile's (measured on its card's models; see inspectnet/criteria/mvtec_ad.toml for how).",
        "# Absolute budgets in milliseconds hold on one machine class only: `inspectnet budget --from reports`",
        "# writes one for your runner ([[latency.cpu.machine]]) from a run's latency records; add it here.",
    ]
    for device, budgets in packaged_profile.budgets.items():
        floors = budgets.floors
        if not floors:
            continue
        shared = floors.get(EVERY)
        lines += ["", f"[latency.{device}]"]
        if shared is not None:
            lines.append(f"min_layer_efficiency = {_num(shared)}")
        for runtime in (r for r in floors if r != EVERY):
            if floors[runtime] != shared:
                lines += ["", f"[latency.{device}.{runtime}]", f"min_layer_efficiency = {_num(floors[runtime])}"]
    return [*lines, ""]


def _parity_gate_candidates(packaged_profile: Profile) -> list[str]:
    parity, gate, candidates = packaged_profile.parity, packaged_profile.gate, packaged_profile.candidates
    lines = [
        "# Exported ONNX / OpenVINO models against the torch model: max abs error of the anomaly map and score",
        "# <= tolerance, no label or mask-pixel flips, on this many test images (half normal, half anomalous).",
        "[parity]",
        f"tolerance = {_num(parity.tolerance)}",
        f"images = {_num(parity.images)}",
        "",
        "# The regression gate (`inspectnet gate`): an accuracy drop beyond these tolerances is a regression, and",
        "# so is parity going from clean to broken; latency settings as in the packaged profile (see its comments).",
        "[gate]",
        f"accuracy_tolerance = {_inline(gate.accuracy_tolerance)}",
        f"alpha = {_num(gate.alpha)}",
        f"min_effect = {_num(gate.min_effect)}",
        f"records_min_effect = {_num(gate.records_min_effect)}",
        f"records_alpha = {_num(gate.records_alpha)}",
        f"ab_quads = {_num(gate.ab_quads)}",
        f"ab_max_quads = {_num(gate.ab_max_quads)}",
        f"ab_block_calls = {_num(gate.ab_block_calls)}",
        "",
        "# Deployment candidates (`pytest inspectnet.toml -m candidates`): cheaper OpenVINO models built from the",
        "# FP32 IR, judged on the whole test split against it; the limits above a candidate's table are shared.",
        (
            "# fail_on_reject = false: a rejected candidate is an expected failure with its reasons, not a red build."
            if not candidates.fail_on_reject
            else "# fail_on_reject = true: a rejected candidate fails its test."
        ),
        "[candidates]",
        f"calibration_images = {_num(candidates.calibration_images)}",
        f"fail_on_reject = {'true' if candidates.fail_on_reject else 'false'}",
    ]
    built = list(candidates.build.values())

    def limit(key: str, value: float | dict[str, float]) -> str:
        return f"{key} = {_inline(value) if isinstance(value, dict) else _num(value)}"

    def same_in_all(key: str) -> bool:
        first = getattr(built[0], key)
        return first is not None and all(getattr(c, key) == first for c in built)

    keys = ("max_drop", "min_label_agreement", "min_mask_iou", "min_speedup", "max_size_ratio")
    shared = {k for k in keys if built and same_in_all(k)}
    lines += [limit(k, getattr(built[0], k)) for k in keys if k in shared]
    for c in built:
        lines += ["", f"[candidates.{toml_key(c.name)}]"]
        lines += [limit(k, getattr(c, k)) for k in keys if k not in shared and getattr(c, k) is not None]
    return [*lines, ""]


def profile_text(
    request: InitRequest,
    given: tuple[GivenModel, ...],
    identity: DatasetIdentity,
    measured: dict[tuple[str, str], Measurement] | None,
    when: str,
    run_table: bool = True,
) -> str:
    """The project file: the plan of ``given``, its criteria (measured, or placeholders), the packaged floors,
    parity, gate and candidates, and (``run_table``) the [run] table."""
    reference = load_profile(packaged("mvtec_ad"))
    header = [
        f"# InspectNet project file, written by `inspectnet init` on {when}: this project's acceptance criteria",
        "# (a criteria profile, schema 1) and how its models are run ([run]). pytest collects this file as",
        "# InspectNet's suites:",
        '#   pytest inspectnet.toml -m "accuracy or parity"   (latency: -m latency; all: pytest inspectnet.toml)',
        "schema = 1",
        f"dataset = {toml_string(request.dataset)}",
        f"description = {toml_string(f'Acceptance criteria of the anomaly detectors judged on {identity.name}')}",
        "",
    ]
    plan = [
        "# The checkpoints found: one accuracy test per method, category, seed and metric.",
        "[plan]",
        f"methods = {_list(_methods(given))}",
        f"categories = {_list(_categories(given))}",
        "seeds = [0]",
        "",
    ]
    parts = [
        header,
        _run_table(request) if run_table else [],
        plan,
        _criteria_tables(request, given, measured, when),
        _latency_tables(reference),
        _parity_gate_candidates(reference),
    ]
    return "\n".join(line for part in parts for line in part).rstrip("\n") + "\n"
