"""The real-data path: `--dataset mvtec_ad --data-root DIR` runs the same acceptance tests on any dataset in
MVTec AD layout (here a small one copied out of the embedded set), and its records say which dataset it was."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROFILE = """schema = 1
dataset = "mvtec_ad"
[plan]
methods = ["patchcore", "padim"]
categories = ["leather"]
seeds = [0]
coreset = 0.1
[criteria.patchcore.leather]
image_auroc = { min = 0.0 }
pixel_auroc = { min = 0.0 }
aupro = { min = 0.0 }
[criteria.padim.leather]
image_auroc = { min = 0.0 }
pixel_auroc = { min = 0.0 }
aupro = { min = 0.0 }
"""


def _small_copy(source: Path, dest: Path) -> None:
    """leather with 10 train images and 4 good + 1 per defect type in test, masks alongside."""
    src = source / "leather"
    for path in sorted((src / "train" / "good").glob("*.png"))[:10]:
        target = dest / "leather" / "train" / "good" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    for folder in sorted((src / "test").iterdir()):
        for path in sorted(folder.glob("*.png"))[: 4 if folder.name == "good" else 1]:
            target = dest / "leather" / "test" / folder.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
            if folder.name != "good":
                mask = src / "ground_truth" / folder.name / f"{path.stem}_mask.png"
                (dest / "leather" / "ground_truth" / folder.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(mask, dest / "leather" / "ground_truth" / folder.name / mask.name)


def test_acceptance_runs_unchanged_on_a_dataset_in_mvtec_layout(synthetic_root: Path, tmp_path: Path) -> None:
    data = tmp_path / "mvtec"
    _small_copy(synthetic_root, data)
    (tmp_path / "profile.toml").write_text(PROFILE)
    reports = tmp_path / "reports"
    test_file = str(ROOT / "tests" / "acceptance" / "test_accuracy.py")
    cmd = [sys.executable, "-m", "pytest", test_file, "-q", "-p", "no:cacheprovider", "-m", "accuracy"]
    # not test_threshold: on 4 normal and 4 defective images a random-init PatchCore does not separate them, so
    # the F1-optimal threshold flags every image (its criterion is tested in tests/test_threshold*.py)
    cmd += ["-k", "not test_threshold"]
    cmd += ["--dataset", "mvtec_ad", "--data-root", str(data), "--weights", "random:0"]
    cmd += ["--criteria", str(tmp_path / "profile.toml"), "--store-dir", str(tmp_path / "store")]
    cmd += ["--report-dir", str(reports)]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # the profile's own coreset (0.1) is the base run: named like any base run, trained at 0.1
    record = json.loads((reports / "patchcore_leather.json").read_text())
    assert record["coreset"] == 0.1 and record["model"]["coreset"] == 0.1
    assert not list(reports.glob("*coreset*"))
    assert record["dataset"]["name"] == "mvtec_ad"
    assert "CC BY-NC-SA 4.0" in record["dataset"]["licence"]
    assert record["counts"] == {"train": 10, "test_good": 4, "test_defective": 4}
    assert record["weights"]["kind"] == "random"
    assert (reports / "padim_leather.json").is_file() and (reports / "ablation_leather.json").is_file()


def test_a_broken_dataset_stops_the_session_with_one_line(synthetic_root: Path, tmp_path: Path) -> None:
    data = tmp_path / "mvtec"
    _small_copy(synthetic_root, data)
    missing = next((data / "leather" / "ground_truth").glob("*/*_mask.png"))
    missing.unlink()
    (tmp_path / "profile.toml").write_text(PROFILE)
    test_file = str(ROOT / "tests" / "acceptance" / "test_accuracy.py")
    cmd = [sys.executable, "-m", "pytest", test_file, "-q", "-p", "no:cacheprovider", "--dataset", "mvtec_ad"]
    cmd += ["--data-root", str(data), "--weights", "random:0", "--criteria", str(tmp_path / "profile.toml")]
    cmd += ["--store-dir", str(tmp_path / "store"), "--report-dir", str(tmp_path / "reports")]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert run.returncode == 4, run.stdout[-2000:]
    assert "defect image has no mask" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "reports").exists(), "nothing may be written before the data is valid"
