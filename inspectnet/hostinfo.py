"""What a number was measured on, collected in one place: the hardware, the software and the threads.

``environment`` is every record's short block; ``platform_block`` the latency record's full one. Both read
the same facts (``versions``, ``cpu_model``, ``gpu_block``), so they cannot disagree.
"""

from __future__ import annotations

import os
import platform
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OV_CPU_THREADS_NUM")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel lists them (``flags`` on x86, ``Features`` on ARM)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


# widest first: the level a float32 kernel can use (AMX adds bf16/int8 tiles, which an f32 budget may meet
# through a runtime's bf16 hint); ARM: SVE over NEON (asimd)
ISA_LEVELS = (
    ("avx512-amx", ("avx512f", "amx_tile")),
    ("avx512", ("avx512f",)),
    ("avx2", ("avx2", "fma")),
    ("avx", ("avx",)),
    ("sve", ("sve",)),
    ("neon", ("asimd",)),
)


def isa_level(flags: frozenset[str] | None = None) -> str:
    """The widest vector ISA level of this CPU ("avx512-amx", "avx512", "avx2", ..., "baseline")."""
    have = cpu_flags() if flags is None else flags
    return next((level for level, needs in ISA_LEVELS if all(f in have for f in needs)), "baseline")


def usable_cores() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_identity() -> str:
    """The CPU model name with its family and model numbers where the kernel gives them (x86): a VM's name
    can be as generic as "AMD EPYC" for two generations whose float32 rates differ twofold."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("cpu family", "model") and key.strip() not in fields:
                fields[key.strip()] = value.strip()
            if not line.strip() and fields:
                break
    except OSError:
        pass
    numbers = f" family {fields['cpu family']} model {fields['model']}" if len(fields) == 2 else ""
    return cpu_model() + numbers


def machine_class(device: str) -> str:
    """The machine class an absolute latency budget holds for: ``<CPU>/<ISA level>/<usable cores>`` on the CPU
    (``AMD EPYC family 26 model 2/avx512/2``), ``<GPU name>/sm_<compute capability>/<multiprocessors>`` on
    CUDA. Budgets match it with shell wildcards (``AMD EPYC*/avx512/*``)."""
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(torch.device(device))
        return f"{props.name}/sm_{props.major}{props.minor}/{props.multi_processor_count}"
    return f"{cpu_identity()}/{isa_level()}/{usable_cores()}"


def _physical_cores() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    pairs, physical = set(), None
    for line in text.splitlines():
        if line.startswith("physical id"):
            physical = line.split(":", 1)[1].strip()
        elif line.startswith("core id"):
            pairs.add((physical, line.split(":", 1)[1].strip()))
    return len(pairs) or None


def _nvidia_driver() -> str | None:
    try:
        first = Path("/proc/driver/nvidia/version").read_text().splitlines()[0]
        return first.split("Kernel Module")[-1].split()[0] if "Kernel Module" in first else first.strip()
    except (OSError, IndexError):
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def gpu_block(device: str) -> dict[str, Any] | None:
    import torch

    if not device.startswith("cuda"):
        return None
    props = torch.cuda.get_device_properties(torch.device(device))
    return {
        "name": props.name,
        "memory_mib": props.total_memory // (1 << 20),
        "compute_capability": f"{props.major}.{props.minor}",
        "driver": _nvidia_driver(),
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),  # type: ignore[no-untyped-call]
    }


@cache
def versions() -> dict[str, str]:
    """The versions of the software a measurement runs on (plain strings)."""
    import anomalib
    import numpy
    import onnxruntime
    import openvino
    import timm
    import torch

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "anomalib": anomalib.__version__,
        "timm": timm.__version__,
        "onnxruntime": onnxruntime.__version__,
        "openvino": openvino.get_version(),
        "numpy": numpy.__version__,
    }


@cache
def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment(device: str) -> dict[str, Any]:
    """Every record's environment: the software and hardware a number was measured on."""
    import torch

    v = versions()
    gpu = gpu_block(device)
    return {
        "python": v["python"],
        "platform": platform.platform(),
        **{name: v[name] for name in ("torch", "anomalib", "timm", "numpy")},
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "gpu": gpu["name"] if gpu else None,
        "git_commit": _git_commit(),
    }


def platform_block(device: str) -> dict[str, Any]:
    """Everything the card's latency section names, measured now."""
    import torch

    v = versions()
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "usable_cores": usable_cores(),
        "isa": isa_level(),
        "machine_class": machine_class(device),
        "gpu": gpu_block(device),
        "os": platform.platform(),
        **{name: v[name] for name in ("python", "torch", "anomalib", "onnxruntime", "openvino", "numpy")},
        "threads": {
            "torch_intra_op": torch.get_num_threads(),
            "torch_inter_op": torch.get_num_interop_threads(),
            **{name: os.environ.get(name) for name in THREAD_VARIABLES},
        },
    }
