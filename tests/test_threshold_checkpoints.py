"""Threshold sanity on real anomalib checkpoints. anomalib's Engine fits one PatchCore and validates it on normal
images only: its F1AdaptiveThreshold falls back to the highest normal score it saw, and ``test_threshold``, run
the way a user runs it (``--model`` in a pytest run), fails with that cause. The same model validated again on
data with normal and anomalous images (the message's fix) passes.

The given-model tests' own checkpoints (root conftest's ``anomalib_results``) are no sane example: anomalib
validated them on their test split, 3 normal and 12 anomalous images, where flagging every image scores the
best F1 (0.89), so their thresholds sit at or below every normal test score and ``test_threshold`` fails them
too (with the "mostly anomalous" cause).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from inspectnet.report.outcomes import first_line
from tests.test_given_models import PROFILE, _pytest

# The given-model tests' profile with a false-alarm limit on PatchCore bottle: 3 normal test images show at
# best 0.708 (none flagged) and 0.906 (one), so 0.95 holds a model to at most one false alarm of three.
LIMITED = PROFILE.replace(
    "[criteria.patchcore.bottle]\n", "[criteria.patchcore.bottle]\nfalse_alarm_rate = { max = 0.95 }\n"
)


def _balanced(small_bottle: Path, root: Path) -> Path:
    """``small_bottle`` with one defect type in its test split: 3 normal and 3 anomalous test images."""
    src = small_bottle / "bottle"
    defect = sorted(p.name for p in (src / "test").iterdir() if p.name != "good")[0]
    for sub in ("train/good", "test/good", f"test/{defect}", f"ground_truth/{defect}"):
        shutil.copytree(src / sub, root / "bottle" / sub)
    return root


@pytest.fixture(scope="module")
def normal_validated(small_bottle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """anomalib's Engine fits PatchCore (resnet18, random init, 64x64, as ``anomalib_results``) and validates it
    on normal images only, its own training images: a validation split without anomalies, on which anomalib's
    F1AdaptiveThreshold takes the highest normal score it saw (and warns). At coreset 1.0 every training
    patch is in the memory bank, so those scores are near 0 and the threshold sits far below every unseen
    image, whatever the seed. Then ``Engine.validate`` calibrates the same model again on a dataset with
    normal and anomalous images (``_balanced``, anomalib's default validation: its test split) and the
    checkpoint is saved again. Returns the first checkpoint (``Engine.best_model_path``), the recalibrated one,
    and the balanced dataset's root."""
    import torch
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from anomalib.models import Patchcore
    from torch.utils.data import DataLoader

    root = tmp_path_factory.mktemp("normal-validation")
    balanced = _balanced(small_bottle, root / "balanced")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
            mp.setenv("HF_HUB_OFFLINE", "1")
            warnings.simplefilter("ignore")  # Lightning's remarks on a one-epoch fit with no optimiser
            torch.manual_seed(0)
            data = MVTecAD(
                root=small_bottle,
                category="bottle",
                train_batch_size=8,
                eval_batch_size=8,
                num_workers=0,
                val_split_mode="none",
            )
            data.setup()
            normals = DataLoader(data.train_data, batch_size=8, shuffle=False, collate_fn=data.train_data.collate_fn)
            model = Patchcore(
                backbone="resnet18",
                layers=["layer2", "layer3"],
                pre_trained=False,
                coreset_sampling_ratio=1.0,
                pre_processor=Patchcore.configure_pre_processor(image_size=(64, 64)),
            )
            engine = Engine(
                max_epochs=1,
                default_root_dir=root / "results",
                accelerator="cpu",
                devices=1,
                logger=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
            engine.fit(model=model, train_dataloaders=data.train_dataloader(), val_dataloaders=normals)
            engine.validate(model=model, datamodule=MVTecAD(root=balanced, category="bottle", num_workers=0))
            engine.trainer.save_checkpoint(root / "recalibrated.ckpt")
    finally:
        torch.set_num_threads(threads)
    return Path(engine.best_model_path), root / "recalibrated.ckpt", balanced


def test_a_threshold_set_on_normal_validation_data_fails_with_its_cause(
    normal_validated: tuple[Path, Path, Path], small_bottle: Path, tmp_path: Path
) -> None:
    checkpoint = normal_validated[0]
    (tmp_path / "profile.toml").write_text(LIMITED)
    run = _pytest(tmp_path, small_bottle, "--model", f"bottle={checkpoint}", select="test_threshold")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    record = json.loads((tmp_path / "reports" / "eval_harness" / "thresholds_patchcore_bottle.json").read_text())
    threshold, facts = record["calibration"]["image_threshold"], record["facts"]
    assert record["thresholds_from"] == "checkpoint" and record["checkpoint"] == str(checkpoint)
    assert threshold < facts["lowest_normal"] and facts["false_alarms"] == facts["normal_images"] == 3
    cause = (
        f"image threshold {threshold:.4g} is below every normal test score: it was likely set on validation data "
        "without anomalies (anomalib F1AdaptiveThreshold); calibrate on data with anomalies or set it "
        f"(post_processor._image_threshold in {checkpoint}); lowest normal test score "
        f"{facts['lowest_normal']:.4g}, 3 of 3 normal test images flagged"
    )
    limit = "false-alarm rate 3/3 = 1.000, Clopper-Pearson 95% upper bound 1.000 > max 0.95"
    assert record["failures"][0] == cause and record["failures"][1].startswith(limit)
    path = tmp_path / "reports" / "eval_harness" / "thresholds_patchcore_bottle.json"
    failure = f"patchcore-bottle-seed0: {cause}; record: {path}"
    assert failure in run.stdout  # the test's own line, whole
    criteria = json.loads((tmp_path / "reports" / "eval_harness" / "criteria.json").read_text())
    (outcome,) = criteria["tests"].values()
    assert outcome["outcome"] == "failed" and outcome["message"] == first_line(failure)  # cut to 300 characters


def test_the_same_model_calibrated_on_data_with_anomalies_passes(normal_validated: tuple[Path, Path, Path]) -> None:
    """The message's fix, on the same model: validated again on normal and anomalous images, judged (in process,
    by the harness ``test_threshold`` calls) on that dataset's test split."""
    from inspectnet.criteria import load_profile
    from inspectnet.harness.given import given_models
    from inspectnet.harness.session import Session, SessionOptions
    from inspectnet.harness.thresholds import judge_thresholds
    from inspectnet.models.weights import parse_weights

    _, recalibrated, balanced = normal_validated
    given = tuple(given_models([("bottle", recalibrated)], None, {}, None))
    profile_path = balanced.parent / "profile.toml"
    profile_path.write_text(LIMITED)
    options = SessionOptions(
        dataset="mvtec_ad",
        data_root=balanced,
        weights=parse_weights("random:0"),
        device="cpu",
        report_dir=balanced.parent / "reports" / "eval_harness",
        store_dir=balanced.parent / "store",
        profile=load_profile(profile_path),
        given=given,
    )
    record = judge_thresholds(Session(options), given[0].run).record
    assert record.thresholds_from == "checkpoint" and record.limit is not None and record.limit.max == 0.95
    assert record.sane, record.failures
    facts = record.facts
    assert facts.lowest_normal is not None and facts.lowest_normal < facts.image_threshold < facts.highest_score
    assert (facts.normal_images, facts.anomalous_images) == (3, 3) and facts.false_alarms <= 1
