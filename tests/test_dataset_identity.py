"""Whose data: `--inspectnet-dataset folder` names and licenses a user's own dataset in MVTec AD layout (its
`dataset.toml`, or `--inspectnet-dataset-licence`), and every record and the card say so; mvtec_ad and the embedded set
keep their own licences. Resolution is tested directly; two tiny pytest runs show it reaching the records."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch  # noqa: F401  imported before any in-process pytester run: a run must not unload and re-import it

from inspectnet.builders import dataset_info
from inspectnet.data.licences import DATASET_LICENCES, IdentityError, builtin, resolve
from inspectnet.records import DatasetInfo, EvalRecord
from inspectnet.report.card import licence, reproduction
from inspectnet.report.load import ReportSet, Source, load_reports

ROOT = Path(__file__).resolve().parents[1]
ACCURACY = ROOT / "tests" / "acceptance" / "test_accuracy.py"
pytest_plugins = ["pytester"]

TOML = 'name = "acme_leather"\nlicence = "CC0-1.0 (ACME photographs)"\nnote = "our own line-camera photographs"\n'

# PaDiM only (the cheaper model), one category, and only image_auroc: a partial profile
PARTIAL = """schema = 1
[plan]
methods = ["padim"]
categories = ["leather"]
seeds = [0]
[criteria.padim.leather]
image_auroc = { min = 0.0 }
"""


def _root(tmp_path: Path, name: str = "photos") -> Path:
    root = tmp_path / name
    (root / "leather" / "train" / "good").mkdir(parents=True)
    return root


# ---------------------------------------------------------------- resolution, without pytest


def test_the_built_in_datasets_keep_their_licences(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "dataset.toml").write_text(TOML)  # ignored: MVTec AD is MVTec AD's
    mvtec = resolve("mvtec_ad", root, None)
    assert (mvtec.name, mvtec.kind) == ("mvtec_ad", "mvtec_ad")
    assert mvtec.licence.startswith("CC BY-NC-SA 4.0 (MVTec AD")
    synthetic = resolve("synthetic", None, None)
    assert synthetic.licence.startswith("CC0-1.0") and synthetic.embedded and not mvtec.embedded
    assert synthetic == builtin("synthetic")


def test_a_folder_dataset_is_what_its_dataset_toml_says(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "dataset.toml").write_text(TOML)
    identity = resolve("folder", root, None)
    assert identity.kind == "folder" and not identity.embedded
    assert (identity.name, identity.licence, identity.note) == (
        "acme_leather",
        "CC0-1.0 (ACME photographs)",
        "our own line-camera photographs",
    )
    (root / "dataset.toml").write_text('name = "acme"\nlicence = "CC0-1.0"\n')  # note is optional
    assert "dataset.toml" in resolve("folder", root, None).note
    assert resolve("folder", root, "CC0-1.0").licence == "CC0-1.0"  # the option may repeat the file


def test_the_licence_option_names_the_dataset_after_its_root(tmp_path: Path) -> None:
    identity = resolve("folder", _root(tmp_path, "line3_photos"), "  CC-BY-4.0  ")
    assert (identity.name, identity.licence) == ("line3_photos", "CC-BY-4.0")
    assert "--inspectnet-dataset-licence" in identity.note


def test_a_folder_dataset_with_neither_says_both_ways(tmp_path: Path) -> None:
    root = _root(tmp_path)
    with pytest.raises(IdentityError) as exc:
        resolve("folder", root, None)
    message = str(exc.value)
    assert "\n" not in message
    assert str(root / "dataset.toml") in message and "--inspectnet-dataset-licence" in message


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (TOML + 'owner = "me"\n', "unknown key owner (known: name, licence, note)"),
        ('name = "acme"\n', "licence is missing"),
        ('licence = "CC0-1.0"\n', "name is missing"),
        ('name = "acme"\nlicence = ""\n', "licence must be a non-empty one-line string"),
        ('name = "acme"\nlicence = "CC0\\nand more"\n', "licence must be a non-empty one-line string"),
        ('name = "acme"\nlicence = 0\n', "licence must be a non-empty one-line string"),
        ('name = "a,b]"\nlicence = "CC0-1.0"\n', "is not a dataset name"),
        ('name = "mvtec_ad"\nlicence = "CC0-1.0"\n', "'mvtec_ad' is reserved for --inspectnet-dataset mvtec_ad"),
        ('name = "Synthetic"\nlicence = "CC0-1.0"\n', "is reserved for --inspectnet-dataset synthetic"),
        ('name = "acme"\nlicence = "CC0-1.0\n', "not a readable TOML file"),
    ],
)
def test_a_malformed_dataset_toml_is_one_line_naming_the_file(tmp_path: Path, text: str, match: str) -> None:
    root = _root(tmp_path)
    (root / "dataset.toml").write_text(text)
    with pytest.raises(IdentityError) as exc:
        resolve("folder", root, None)
    message = str(exc.value)
    assert message.startswith(f"{root / 'dataset.toml'}: ") and match in message and "\n" not in message


def test_the_option_and_the_file_must_agree_and_the_option_is_for_folders_only(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "dataset.toml").write_text(TOML)
    with pytest.raises(IdentityError, match="disagree"):
        resolve("folder", root, "CC-BY-4.0")
    with pytest.raises(IdentityError, match="--inspectnet-dataset-licence applies to --inspectnet-dataset folder only"):
        resolve("mvtec_ad", root, "CC0-1.0")
    with pytest.raises(IdentityError, match="not a dataset name"):
        resolve("folder", _root(tmp_path, "a,b"), "CC0-1.0")
    with pytest.raises(IdentityError, match="is reserved for --inspectnet-dataset mvtec_ad"):
        resolve("folder", _root(tmp_path, "mvtec_ad"), "CC0-1.0")


def test_the_dataset_block_is_made_from_the_identity(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "dataset.toml").write_text(TOML)
    block = dataset_info(resolve("folder", root, None), "photos", "f" * 64)
    assert block == DatasetInfo(
        "acme_leather", "photos", "f" * 64, "CC0-1.0 (ACME photographs)", "our own line-camera photographs"
    )
    assert dataset_info(builtin("mvtec_ad"), "r", "0").licence == DATASET_LICENCES["mvtec_ad"]


def _with_dataset(dataset: DatasetInfo) -> ReportSet:
    reports = load_reports(ROOT / "reports")
    source = reports.of(EvalRecord)[0]
    return ReportSet(reports.root, [Source(source.name, replace(source.record, dataset=dataset))])


def test_the_card_says_a_folder_datasets_licence_propagates_and_how_to_reproduce() -> None:
    own = _with_dataset(DatasetInfo("acme_leather", "photos", "0", "CC0-1.0 (ACME photographs)", "ours"))
    text = "\n".join(licence(own))
    assert "Dataset: CC0-1.0 (ACME photographs)." in text
    assert "acme_leather is CC0-1.0 (ACME photographs)" in text and "applies to every checkpoint" in text
    assert "MVTec AD" not in text
    steps = "\n".join(reproduction(own))
    assert "--inspectnet-dataset folder --inspectnet-data-root DIR" in steps and 'name = "acme_leather"' in steps
    mvtec = _with_dataset(DatasetInfo("mvtec_ad", "r", "0", DATASET_LICENCES["mvtec_ad"], "n"))
    assert "MVTec AD is CC BY-NC-SA 4.0 (non-commercial). The restriction propagates" in "\n".join(licence(mvtec))
    assert "--inspectnet-dataset mvtec_ad --inspectnet-data-root DIR --inspectnet-weights imagenet" in "\n".join(
        reproduction(mvtec)
    )
    embedded = "\n".join(licence(_with_dataset(DatasetInfo("synthetic", "r", "0", DATASET_LICENCES["synthetic"], ""))))
    assert "applies to every checkpoint" not in embedded and "propagates" not in embedded


# ---------------------------------------------------------------- the plugin: refused at configure, one line


def test_folder_with_neither_is_a_one_line_usage_error_before_anything_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_accuracy=ACCURACY.read_text())
    root = _root(pytester.path)
    result = pytester.runpytest(
        "--inspectnet-dataset",
        "folder",
        "--inspectnet-data-root",
        str(root),
        "--inspectnet-store-dir",
        "store",
        "--inspectnet-report-dir",
        "reports/eval",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    assert "dataset.toml" in errors[0] and "--inspectnet-dataset-licence TEXT" in errors[0]
    assert not (pytester.path / "store").exists() and not (pytester.path / "reports").exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [(TOML + "owner = 1\n", "unknown key owner"), ('name = "acme"\n', "licence is missing")],
)
def test_a_malformed_dataset_toml_stops_pytest_naming_the_file(
    pytester: pytest.Pytester, text: str, match: str
) -> None:
    root = _root(pytester.path)
    (root / "dataset.toml").write_text(text)
    result = pytester.runpytest("--inspectnet-dataset", "folder", "--inspectnet-data-root", str(root))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and f"{root / 'dataset.toml'}: " in errors[0] and match in errors[0], errors
    assert "Traceback" not in result.stderr.str()


def test_the_licence_option_is_refused_for_a_built_in_dataset(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--inspectnet-dataset-licence", "CC0-1.0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--inspectnet-dataset-licence applies to --inspectnet-dataset folder only*"])


# ---------------------------------------------------------------- tiny runs: the identity reaches the records


def _tiny_copy(source: Path, dest: Path) -> None:
    """leather with 4 train images, 2 good test images and one each of two defect types, masks alongside."""
    src = source / "leather"
    picks = [("train/good", 4), ("test/good", 2), ("test/color", 1), ("test/cut", 1)]
    for folder, count in picks:
        for path in sorted((src / folder).glob("*.png"))[:count]:
            (dest / "leather" / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, dest / "leather" / folder / path.name)
            if folder.startswith("test/") and folder != "test/good":
                mask = src / "ground_truth" / folder[5:] / f"{path.stem}_mask.png"
                (dest / "leather" / "ground_truth" / folder[5:]).mkdir(parents=True, exist_ok=True)
                shutil.copy(mask, dest / "leather" / "ground_truth" / folder[5:] / mask.name)


@pytest.fixture(scope="module")
def tiny_runs(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the partial profile and an artifact store the module's runs share (same pixels, so
    the second run loads the first's model)."""
    base = tmp_path_factory.mktemp("identity")
    _tiny_copy(synthetic_root, base / "source")
    (base / "profile.toml").write_text(PARTIAL)
    return base


def _run(base: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pytest", str(ACCURACY), "-q", "-rs", "-p", "no:cacheprovider", "-m", "accuracy"]
    cmd += [
        "-k",
        "not ablation",
        "--inspectnet-dataset",
        "folder",
        "--inspectnet-data-root",
        str(root),
        "--inspectnet-weights",
        "random:0",
    ]
    cmd += ["--inspectnet-criteria", str(base / "profile.toml"), "--inspectnet-store-dir", str(base / "store")]
    cmd += ["--inspectnet-report-dir", str(root.parent / f"{root.name}_reports" / "eval"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=base)


def test_a_dataset_toml_names_and_licenses_every_record_and_a_partial_profile_skips_the_rest(
    tiny_runs: Path,
) -> None:
    root = tiny_runs / "acme"
    shutil.copytree(tiny_runs / "source", root)
    (root / "dataset.toml").write_text(TOML)
    run = _run(tiny_runs, root)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "2 passed, 2 skipped" in out, out[-3000:]  # image_auroc and the threshold judged, the others skip
    for metric in ("pixel_auroc", "aupro"):  # measured and recorded, not judged
        assert f"no criterion for {metric} of padim/leather in {tiny_runs / 'profile.toml'}" in out, out[-3000:]
    record = json.loads((tiny_runs / "acme_reports" / "eval" / "padim_leather.json").read_text())
    assert record["dataset"]["name"] == "acme_leather"
    assert record["dataset"]["licence"] == "CC0-1.0 (ACME photographs)"
    assert record["dataset"]["note"] == "our own line-camera photographs"
    assert set(record["metrics"]) >= {"image_auroc", "pixel_auroc", "aupro"}
    assert "MVTec" not in json.dumps(record["dataset"])


def test_the_licence_option_names_the_records_after_the_root(tiny_runs: Path) -> None:
    root = tiny_runs / "line3_photos"
    shutil.copytree(tiny_runs / "source", root)
    run = _run(tiny_runs, root, "--inspectnet-dataset-licence", "CC-BY-4.0 (Line 3 photographs)")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    record = json.loads((tiny_runs / "line3_photos_reports" / "eval" / "padim_leather.json").read_text())
    assert record["dataset"]["name"] == "line3_photos"
    assert record["dataset"]["licence"] == "CC-BY-4.0 (Line 3 photographs)"
    assert "--inspectnet-dataset-licence" in record["dataset"]["note"]
