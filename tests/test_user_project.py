"""The user's scenario end to end, outside this repository: an anomalib model trained on their own data, in
their own project, held to its card.

`inspectnet init` on the project's anomalib results tree and data -> `pytest` there collects the packaged
accuracy and parity suites from its inspectnet.toml and passes, writing records under the project ->
`inspectnet card` renders its card -> a criterion raised above the measured value fails, naming it -> a lax
criterion is named by the self-check in one line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

Results = tuple[Path, dict[str, Path]]
BIN = Path(sys.executable).parent


def _run(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=project)


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(project, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args)


def _set(text: str, table: str, line: str) -> str:
    """``text`` with ``table``'s ``image_auroc`` line replaced by ``line``."""
    pattern = re.compile(rf"(\[{re.escape(table)}\]\n(?:#[^\n]*\n)*)image_auroc = [^\n]*\n")
    changed, count = pattern.subn(lambda m: m.group(1) + line + "\n", text)
    assert count == 1, table
    return changed


def _pytest_with(project: Path, line: str, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in ``project`` with PatchCore bottle's ``image_auroc`` criterion set to ``line`` (then restored)."""
    profile = project / "inspectnet.toml"
    original = profile.read_text()
    try:
        profile.write_text(_set(original, "criteria.patchcore.bottle", line))
        return _pytest(project, *args)
    finally:
        profile.write_text(original)


@pytest.fixture(scope="module")
def project(anomalib_results: Results, small_bottle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with its results tree and its data, after `inspectnet init --from-current`."""
    root = tmp_path_factory.mktemp("acme") / "acme"
    shutil.copytree(anomalib_results[0], root / "results")
    shutil.copytree(small_bottle, root / "data")
    (root / "tests").mkdir()
    (root / "tests" / "test_own.py").write_text("def test_the_projects_own():\n    pass\n")
    init = _run(
        root,
        str(BIN / "inspectnet"),
        *("init", "--model-dir", "results", "--data-root", "data", "--dataset-licence", "CC0-1.0"),
        "--from-current",
    )
    assert init.returncode == 0, init.stdout + init.stderr
    for name in ("inspectnet.toml", "pytest.ini", ".github/workflows/inspectnet.yml"):
        assert name in init.stdout and (root / name).is_file(), name
    # A given checkpoint runs anomalib's own PatchCore arithmetic, whose exports differ from the torch model by
    # up to 3.4e-4 here (tests/test_given_models.py); the plumbing is under test, with a 10x margin for another CPU.
    profile = root / "inspectnet.toml"
    text = profile.read_text()
    assert "\ntolerance = 0.001\n" in text
    profile.write_text(text.replace("\ntolerance = 0.001\n", "\ntolerance = 5e-3\n"))
    return root


def test_init_then_pytest_then_card_in_the_users_project(project: Path) -> None:
    # The self-checks are left out here: this test model (random-init resnet18, 64x64, 8 training images) is
    # barely better than a broken one (its memory bank cut to one vector scores image AUROC 0.89 against its
    # own 0.81), so criteria measured from it cannot catch a broken model, and the self-check says so
    # (test_a_lax_criterion_is_named_in_one_line).
    # The threshold check is left out too: anomalib validated these checkpoints on their test split (3 normal,
    # 12 anomalous images), where flagging every image scores the best F1, so their thresholds are not sane and
    # that check fails them, as it should (tests/test_threshold_checkpoints.py shows both sides).
    run = _pytest(project, "-m", "accuracy or parity", "-k", "not self_check and not test_threshold", "-rs")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    # 6 accuracy tests (2 models x 3 metrics) and 3 parity tests (ONNX Runtime, OpenVINO, torch.export) passed;
    # skipped: the ablation row (init writes no [delta] criterion), the two CUDA parity cases on this CPU machine
    # (ONNX Runtime's CUDA and TensorRT providers), and the five deployment-path cases (they compare a given
    # checkpoint with a given export; this project gives none)
    assert run.stdout.splitlines()[-1].startswith("9 passed, 8 skipped"), run.stdout[-2000:]
    records = project / "reports" / "eval_harness"
    for name in ("patchcore_bottle.json", "padim_bottle.json", "onnxruntime_parity_patchcore_bottle.json"):
        assert (records / name).is_file(), name
    criteria = json.loads((records / "criteria.json").read_text())
    assert "inspectnet.toml::accuracy::test_image_auroc[patchcore-bottle-seed0]" in criteria["tests"]
    assert not any("test_own" in test for test in criteria["tests"])  # the project's own test is no criterion
    assert json.loads((records / "patchcore_bottle.json").read_text())["source"]["kind"] == "checkpoint"
    card = _run(project, str(BIN / "inspectnet"), "card", "--reports", "reports")
    assert card.returncode == 0, card.stderr
    assert "patchcore" in (project / "reports" / "MODEL_CARD.md").read_text().lower()


def test_a_criterion_above_the_measured_value_fails_naming_it(project: Path) -> None:
    run = _pytest_with(project, "image_auroc = { min = 0.9999 }", "-m", "accuracy", "-k", "test_image_auroc")
    assert run.returncode == 1, run.stdout[-3000:]
    assert "FAILED inspectnet.toml::accuracy::test_image_auroc[patchcore-bottle-seed0]" in run.stdout
    criteria = json.loads((project / "reports" / "eval_harness" / "criteria.json").read_text())["tests"]
    failed = criteria["inspectnet.toml::accuracy::test_image_auroc[patchcore-bottle-seed0]"]
    assert failed["outcome"] == "failed", failed
    interval = r"\[95% interval 0\.\d{4}, [01]\.\d{4} on 15 test images: 3 good, 12 defective\]"
    assert re.match(
        rf"patchcore-bottle-seed0: image_auroc = 0\.\d{{4}} {interval} < minimum 0\.9999 ", failed["message"]
    ), failed
    assert failed["message"] in run.stdout  # the same line on the terminal


def test_a_lax_criterion_is_named_in_one_line(project: Path) -> None:
    run = _pytest_with(project, "image_auroc = { min = 0.3 }", "-m", "accuracy", "-k", "shuffled and patchcore")
    assert run.returncode == 1, run.stdout[-3000:]
    lax = [x for x in run.stdout.splitlines() if x.startswith("[criteria.patchcore.bottle] image_auroc")]
    assert len(lax) == 1, run.stdout[-3000:]
    assert re.fullmatch(
        r"\[criteria\.patchcore\.bottle\] image_auroc ≥ 0\.30 also accepts the same model with shuffled scores "
        r"\((0\.\d\d)\): it cannot catch a broken model; set it above \1",
        lax[0],
    ), lax[0]
    assert "Traceback" not in run.stdout and "Session(" not in run.stdout
