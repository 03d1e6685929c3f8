"""``inspectnet init``: a project's inspectnet.toml, pytest configuration and CI workflow, written from its own
anomalib checkpoints (root conftest's ``anomalib_results``: PatchCore and PaDiM fitted on ``small_bottle``).

Placeholder criteria fail every check with one line; a written project file loads and its [run] resolves;
nothing is written over an existing file; bad input is one line, exit 2, nothing written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inspectnet.cli import main
from inspectnet.criteria import CriteriaError, load_profile, packaged
from inspectnet.harness.project_files import find_pytest_config
from inspectnet.harness.settings import RunValues, resolve_values
from inspectnet.names import METRICS

Results = tuple[Path, dict[str, Path]]
PLACEHOLDER = """schema = 1
[plan]
methods = ["patchcore"]
categories = ["bottle"]
[criteria.patchcore.bottle]
image_auroc = { todo = "set min, or reference and tolerance, from your model card" }
pixel_auroc = { min = 0.9 }
"""


def _init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["init", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _files(project: Path) -> list[Path]:
    return [project / "inspectnet.toml", project / "pytest.ini", project / ".github" / "workflows" / "inspectnet.yml"]


def test_a_placeholder_fails_every_value_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "inspectnet.toml"
    path.write_text(PLACEHOLDER)
    profile = load_profile(path)
    profile.check_runs(profile.plan.runs())  # a placeholder counts as the table's criterion
    criterion = profile.criterion("patchcore", "bottle", "image_auroc")
    assert criterion.is_placeholder
    for value in (0.0, 0.5, 1.0):
        assert not criterion.check(value).passed
    message = criterion.check(1.0).message("patchcore-bottle-seed0", "reports/eval_harness/patchcore_bottle.json")
    assert "\n" not in message and "inf" not in message
    assert message.startswith(
        f"patchcore-bottle-seed0: image_auroc = 1.0000 measured, not judged: a placeholder in {path} "
        "[criteria.patchcore.bottle]; replace it with image_auroc = { min = X } or { reference = R, tolerance = T }"
    )
    assert "inf" not in criterion.describe() and "inf" not in criterion.shown_minimum(2)
    assert profile.criterion("patchcore", "bottle", "pixel_auroc").check(0.95).passed  # the others are unchanged


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ('{ todo = "x", min = 0.9 }', "todo marks a placeholder"),
        ("{ todo = 1 }", "todo must be a non-empty string"),
        ('{ todo = " " }', "todo must be a non-empty string"),
    ],
)
def test_a_placeholder_with_a_number_or_no_text_is_refused(tmp_path: Path, spec: str, match: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(PLACEHOLDER.replace("{ min = 0.9 }", spec))
    with pytest.raises(CriteriaError, match=match):
        load_profile(path)


def test_init_writes_the_project_file_pytest_ini_and_workflow(
    anomalib_results: Results, small_bottle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "requirements.txt").write_text("anomalib\n")
    code, out, err = _init(
        capsys,
        *("--dir", str(project), "--model-dir", str(anomalib_results[0])),
        *("--data-root", str(small_bottle), "--dataset-licence", "CC0-1.0", "--latency-runner", "self-hosted"),
        *("--weights", "random:0"),
    )
    assert code == 0, err
    toml, ini, yml = _files(project)
    assert all(f.is_file() for f in (toml, ini, yml))
    assert [line.removeprefix("wrote ") for line in out.splitlines() if line.startswith("wrote ")] == [
        str(f) for f in (toml, ini, yml)
    ]
    assert 'pytest inspectnet.toml -m "accuracy or parity"' in out.splitlines()[-1]

    profile = load_profile(toml)
    assert profile.plan.methods == ("patchcore", "padim") and profile.plan.categories == ("bottle",)
    assert profile.run.model_dir == anomalib_results[0].resolve() and profile.run.data_root == small_bottle.resolve()
    assert profile.run.dataset == "folder" and profile.run.dataset_licence == "CC0-1.0"
    assert profile.run.weights == "random:0"
    for method in ("patchcore", "padim"):
        assert all(profile.criterion(method, "bottle", m).is_placeholder for m in METRICS)
    shipped = load_profile(packaged("mvtec_ad"))
    assert {d: b.floors for d, b in profile.budgets.items()} == {d: b.floors for d, b in shipped.budgets.items()}
    assert all(not b.machines for b in profile.budgets.values())  # no machine-class budget of another machine
    assert (profile.parity, profile.gate, profile.candidates) == (shipped.parity, shipped.gate, shipped.candidates)

    resolved = resolve_values(RunValues(project=toml, base=project))
    assert sorted((g.run.method, g.run.category) for g in resolved.given) == [
        ("padim", "bottle"),
        ("patchcore", "bottle"),
    ]
    assert resolved.data_root == small_bottle.resolve() and resolved.identity.licence == "CC0-1.0"

    assert "testpaths = inspectnet.toml tests" in ini.read_text()
    assert "ignore:Importing from timm.models.layers is deprecated:FutureWarning" in ini.read_text()
    workflow = yml.read_text()
    jobs = pytest.importorskip("yaml").safe_load(workflow)["jobs"]
    assert jobs["accuracy"]["strategy"]["matrix"]["category"] == ["bottle"]
    assert jobs["gate"]["needs"] == "accuracy" and jobs["latency"]["runs-on"] == "self-hosted"
    assert 'category: ["bottle"]' in workflow and 'runs-on: "self-hosted"' in workflow
    assert "pip install -r requirements.txt" in workflow
    assert (
        'pytest inspectnet.toml -m "accuracy or parity" --inspectnet-category ${{ matrix.category }} '
        "--inspectnet-report-dir shards/${{ matrix.category }}/eval_harness"
    ) in workflow
    for command in (
        "inspectnet report merge --out merged shards/*",
        "inspectnet card --reports merged",
        "inspectnet gate --baseline reports --current merged --criteria inspectnet.toml",
        "pytest inspectnet.toml -m latency --inspectnet-report-dir out/latency/eval_harness",
    ):
        assert command in workflow


def test_an_existing_pytest_configuration_gets_advice_not_a_file(
    anomalib_results: Results, small_bottle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-ra"\n')
    code, out, err = _init(
        capsys,
        *("--dir", str(project), "--model", f"bottle={anomalib_results[1]['patchcore']}"),
        *("--data-root", str(small_bottle), "--dataset-licence", "CC0-1.0"),
    )
    assert code == 0, err
    assert not (project / "pytest.ini").exists()
    assert (project / "pyproject.toml").read_text() == '[tool.pytest.ini_options]\naddopts = "-ra"\n'
    assert f"{project / 'pyproject.toml'} already configures pytest" in out
    assert '[tool.pytest.ini_options]\ntestpaths = ["inspectnet.toml"]\nfilterwarnings = [\n' in out
    profile = load_profile(project / "inspectnet.toml")
    assert profile.plan.methods == ("patchcore",)
    assert profile.run.models == (("bottle", anomalib_results[1]["patchcore"].resolve()),)


@pytest.mark.parametrize(
    ("name", "text", "table"),
    [
        ("pytest.ini", "", "[pytest]"),
        ("pytest.toml", "[pytest]\n", "[pytest]"),
        ("pyproject.toml", "[tool.pytest]\nminversion = '9.0'\n", "[tool.pytest]"),
        ("tox.ini", "[tox]\n[pytest]\naddopts = -ra\n", "[pytest]"),
        ("setup.cfg", "[metadata]\n[tool:pytest]\n", "[tool:pytest]"),
        ("pyproject.toml", "[project]\nname = 'x'\n", None),
        ("tox.ini", "[tox]\n", None),
        ("setup.cfg", "[metadata]\nname = x\n", None),
    ],
)
def test_a_pytest_configuration_is_found_where_pytest_reads_one(
    tmp_path: Path, name: str, text: str, table: str | None
) -> None:
    (tmp_path / name).write_text(text)
    found = find_pytest_config(tmp_path)
    assert (found.table if found is not None else None) == table


def test_nothing_is_written_over_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project, data, results = tmp_path / "project", tmp_path / "data", tmp_path / "results"
    for d in (project, data, results):
        d.mkdir()
    existing = project / ".github" / "workflows" / "inspectnet.yml"
    existing.parent.mkdir(parents=True)
    existing.write_text("mine\n")
    code, out, err = _init(capsys, "--dir", str(project), "--model-dir", str(results), "--data-root", str(data))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"inspectnet: error: {existing}: already exists; init writes no file over another (nothing was written)"
    ]
    assert existing.read_text() == "mine\n"
    assert sorted(p.name for p in project.iterdir()) == [".github"]


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"not a checkpoint")
    return path


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model-dir", "{results}"], "--model-dir {results}: no anomalib Patchcore or Padim checkpoint under it"),
        (["--model-dir", "{tmp}/nowhere"], "--model-dir {tmp}/nowhere: no such directory"),
        (["--model", "bottle={garbage}"], "{garbage}: not a readable checkpoint"),
        (["--model", "bottle={tmp}/none.ckpt"], "--model bottle={tmp}/none.ckpt: no such file"),
        (["--model-dir", "{results}", "--tolerance", "0.01"], "--tolerance applies to --from-current only"),
        (["--model-dir", "{results}", "--from-current", "--tolerance", "0"], "--tolerance 0.0: give a number in"),
        (["--model-dir", "{results}", "--weights", "random:x"], "--weights 'random:x'"),
    ],
    ids=[
        "no-checkpoint",
        "no-model-dir",
        "unreadable",
        "no-model-file",
        "tolerance-alone",
        "zero-tolerance",
        "weights",
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    project, data, results = tmp_path / "project", tmp_path / "data", tmp_path / "results"
    for d in (project, data, results):
        d.mkdir()
    names = {"results": str(results), "tmp": str(tmp_path), "garbage": str(_garbage(tmp_path))}
    argv = ["--dir", str(project), "--data-root", str(data), "--dataset-licence", "CC0-1.0"]
    code, out, err = _init(capsys, *argv, *(a.format(**names) for a in args))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("inspectnet: error: ") and fragment.format(**names) in lines[0], err
    assert list(project.iterdir()) == []


def test_a_missing_data_root_or_bad_model_syntax_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _init(capsys, "--dir", str(tmp_path), "--model-dir", str(tmp_path), "--data-root", "nowhere")
    assert (
        code == 2
        and out == ""
        and err.splitlines()
        == [
            "inspectnet: error: --data-root nowhere: no such directory; give the dataset's root in MVTec AD layout "
            "(<root>/<category>/train/good/*.png)"
        ]
    )
    with pytest.raises(SystemExit) as exited:
        main(["init", "--model", "bottle", "--data-root", str(tmp_path)])
    assert exited.value.code == 2
    assert "--model 'bottle': write CATEGORY=VALUE" in capsys.readouterr().err


def test_a_dataset_without_the_checkpoints_category_is_refused(
    anomalib_results: Results, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "cable" / "train" / "good").mkdir(parents=True)
    code, out, err = _init(
        capsys,
        *("--dir", str(tmp_path), "--model", f"bottle={anomalib_results[1]['padim']}"),
        *("--data-root", str(data), "--dataset-licence", "CC0-1.0"),
    )
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "unknown category 'bottle'" in err, err
    assert not (tmp_path / "inspectnet.toml").exists()


def test_from_current_writes_the_measured_values_as_references(
    anomalib_results: Results, small_bottle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The references are what the suite measures on the written project (the same session, built from its
    [run] table), to 4 decimals, with the tolerance asked; the current models pass them."""
    project = tmp_path / "project"
    project.mkdir()
    data = project / "data"
    shutil.copytree(small_bottle, data)
    (data / "dataset.toml").write_text('name = "small bottle"\nlicence = "CC0-1.0"\n')
    code, out, err = _init(
        capsys,
        *("--dir", str(project), "--model-dir", str(anomalib_results[0]), "--data-root", str(data)),
        *("--from-current", "--tolerance", "0.03"),
    )
    assert code == 0, err
    assert "measuring patchcore-bottle-seed0 on " in out
    text = (project / "inspectnet.toml").read_text()
    assert 'data_root = "data"' in text and "# Measured by `inspectnet init --from-current` on " in text
    profile = load_profile(project / "inspectnet.toml")
    resolved = resolve_values(RunValues(project=project / "inspectnet.toml", base=project, store_dir=tmp_path / "s"))
    session = resolved.session()
    for run in resolved.runs():
        metrics = session.evaluate(run).record.metrics
        for metric in METRICS:
            criterion = profile.criterion(run.method, run.category, metric)
            assert criterion.tolerance == 0.03
            assert criterion.reference == pytest.approx(metrics[metric], abs=5e-5)
            assert criterion.check(metrics[metric]).passed
