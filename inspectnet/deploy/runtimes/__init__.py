"""The inference runtimes, one module each, registered in one table (``REGISTRY``).

Everything outside ``deploy`` asks this table: which runtimes run on a device, which load an exported file
(and so are compared with the torch reference), their names for the card, their kernels for the peak rate.
Adding a runtime is one module with its ``Runtime`` row, and one line here.
"""

from __future__ import annotations

from inspectnet.deploy.runtimes import onnx_runtime, openvino_cpu, torch_eager, torch_export
from inspectnet.deploy.runtimes.base import (
    Runner,
    Runtime,
    RuntimeUnavailable,
    check_given_export,
    graph_signature,
)
from inspectnet.deploy.runtimes.onnx_runtime import onnxruntime_runner
from inspectnet.deploy.runtimes.openvino_cpu import openvino_runner
from inspectnet.deploy.runtimes.torch_eager import torch_runner

REGISTRY: tuple[Runtime, ...] = (
    torch_eager.RUNTIME,
    onnx_runtime.RUNTIME,
    openvino_cpu.RUNTIME,
    torch_export.RUNTIME,
    onnx_runtime.TENSORRT_RUNTIME,
)
NAMES = tuple(r.name for r in REGISTRY)
REFERENCE = next(r for r in REGISTRY if not r.exported)  # the torch module every export is compared with

__all__ = [
    "NAMES",
    "REFERENCE",
    "REGISTRY",
    "Runner",
    "Runtime",
    "RuntimeUnavailable",
    "check_given_export",
    "graph_signature",
    "label",
    "on",
    "onnxruntime_runner",
    "openvino_runner",
    "runtime",
    "torch_runner",
    "user_export",
]


def runtime(name: str) -> Runtime:
    """The registry's row for ``name``; ValueError naming the known ones otherwise."""
    found = next((r for r in REGISTRY if r.name == name), None)
    if found is None:
        raise ValueError(f"unknown runtime {name!r} (known: {', '.join(NAMES)})")
    return found


def on(device: str, exported: bool = False) -> tuple[Runtime, ...]:
    """The runtimes measured on ``device`` ("cpu" | "cuda"): all for latency; ``exported``: those that load an
    exported file (parity)."""
    return tuple(r for r in REGISTRY if device in r.devices and (r.exported or not exported))


def label(name: str) -> str:
    """The card's name for a runtime (a record's name as it is, for a runtime this registry does not have)."""
    return next((r.label for r in REGISTRY if r.name == name), name)


def user_export(kind: str) -> Runtime | None:
    """The runtime that runs a user's own export of ``kind`` (``--inspectnet-export KIND=...``)."""
    return next((r for r in REGISTRY if r.user_export == kind), None)
