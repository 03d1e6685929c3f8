"""Parity acceptance: each category's exported model on each runtime matches the torch model.

`pytest -m parity`: exports ONNX and OpenVINO IR from the trained checkpoint (cached per checkpoint sha256),
runs the profile's N test images (half normal, half anomalous) through torch and the runtime at batch 1 and
checks max abs error of the raw and normalised map and score <= tolerance, zero label and mask flips.
Writes ``<runtime>_parity_patchcore_<category>.json``.
"""

from __future__ import annotations

import pytest

from inspectnet.harness.parity import ParityChecker
from inspectnet.harness.session import Session

pytestmark = pytest.mark.parity


def test_parity(
    inspectnet: Session, inspectnet_parity: ParityChecker, inspectnet_parity_case: tuple[str, str, str]
) -> None:
    from inspectnet.deploy.runtimes import RuntimeUnavailable

    category, device, runtime = inspectnet_parity_case
    run = inspectnet.measured_run(category)
    if run is None:
        pytest.skip(f"no model of {category} to measure (the given checkpoints hold none)")
    try:
        runner = inspectnet.runner(run, runtime, device)
    except RuntimeUnavailable as exc:
        pytest.skip(str(exc))
    result = inspectnet_parity.check(run, runner)
    way_out = inspectnet_parity.way_out(run, runtime) if not result.clean and result.reference_limited else None
    path = inspectnet_parity.record(run, runner, result, way_out)
    where = "".join(f"\n  {w.describe()}" for w in result.where)
    offer = f"; {way_out.describe()}" if way_out is not None else ""
    assert result.clean, (
        f"{category}/{runtime} on {device}: {result.diagnosis()}{offer}; {result.summary()}; record: {path}{where}"
    )


def test_deployment_path(
    inspectnet: Session, inspectnet_parity: ParityChecker, inspectnet_parity_case: tuple[str, str, str]
) -> None:
    """A given checkpoint and its given export, each through anomalib's own inference path (Lightning predict;
    ``OpenVINOInferencer``) on the original image files: the export must decide as the checkpoint does."""
    from inspectnet.deploy.runtimes import runtime as registered

    category, device, runtime = inspectnet_parity_case
    run = inspectnet.measured_run(category)
    kind = registered(runtime).user_export
    if kind is None:
        pytest.skip(f"{runtime} runs no user's own export (--inspectnet-export)")
    if run is None or inspectnet.given(run) is None or inspectnet.given_export(run, runtime) is None:
        pytest.skip(
            "the deployment path compares a given checkpoint (--inspectnet-model) with its given export "
            f"(--inspectnet-export {category}:{kind}=FILE)"
        )
    if device != "cpu":
        pytest.skip("anomalib's OpenVINOInferencer runs the export on the CPU here")
    comparison, path = inspectnet_parity.deployment_path(run, runtime)
    assert comparison.agrees, (
        f"{category}/{runtime}: anomalib's inference paths disagree on the original files: {comparison.diagnosis()}; "
        f"{comparison.summary()}; record: {path}"
    )
