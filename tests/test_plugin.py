"""The pytest plugin: options validated at parse time, markers, card-like ids, fast collection (pytester)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch  # imported before any in-process pytester run: a run must not unload and re-import it

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


def test_importing_the_plugin_does_not_import_torch() -> None:
    code = "import sys, inspectnet.plugin; print('torch' in sys.modules, 'anomalib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for option in (
        "--inspectnet-dataset",
        "--inspectnet-data-root",
        "--inspectnet-dataset-licence",
        "--inspectnet-category",
        "--inspectnet-seeds",
        "--inspectnet-weights",
        "--inspectnet-device",
        "--inspectnet-criteria",
        "--inspectnet-report-dir",
    ):
        result.stdout.fnmatch_lines([f"*{option}*"])


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    for marker in ("accuracy", "latency", "parity", "candidates", "cuda"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{marker}:*"])
    assert "@pytest.mark.slow:" not in result.stdout.str()  # a project's own marker, if it has one


def test_the_plugin_runs_without_xdist_under_strict_markers(pytester: pytest.Pytester) -> None:
    """The plugin marks items with xdist_group; without pytest-xdist that mark must still be known."""
    pytester.makepyfile('import pytest\n\n@pytest.mark.xdist_group("bottle")\ndef test_x():\n    pass\n')
    result = pytester.runpytest_subprocess("-p", "no:xdist", "--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--inspectnet-weights", "random:x"], "*--inspectnet-weights*random:N*"),
        (["--inspectnet-category", "../x"], "*--inspectnet-category*category '../x' is not a plain name*"),
        (["--inspectnet-seeds", "a,b"], "*--inspectnet-seeds*non-negative integers*"),
        (["--inspectnet-dataset", "mvtec_ad"], "*--inspectnet-dataset mvtec_ad needs --inspectnet-data-root*"),
        (["--inspectnet-criteria", "nope.toml"], "*--inspectnet-criteria nope.toml: no such file*"),
        (
            ["--inspectnet-category", "grid"],
            "*synthetic.toml: no ?criteria.patchcore.grid? table for the planned patchcore*",
        ),
        (["--inspectnet-dataset", "folder"], "*--inspectnet-dataset folder needs --inspectnet-data-root*"),
        (["--inspectnet-device", "tpu"], "*--inspectnet-device*invalid choice*"),
        (
            ["--inspectnet-data-root", "/no/such/dataset"],
            "*--inspectnet-data-root /no/such/dataset: no such directory*",
        ),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_an_unknown_key_in_a_profile_is_named(pytester: pytest.Pytester) -> None:
    profile = pytester.path / "p.toml"
    profile.write_text(
        'schema = 1\n[plan]\ncategories = ["bottle"]\n[criteria.patchcore.bottle]\nimage_aucroc = { min = 0.5 }\n'
    )
    result = pytester.runpytest("--inspectnet-criteria", str(profile))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown key criteria.patchcore.bottle.image_aucroc*"])


def test_device_cuda_without_cuda_is_a_usage_error(pytester: pytest.Pytester) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = pytester.runpytest("--inspectnet-device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--inspectnet-device cuda: CUDA is not available*"])


def test_a_projects_own_cuda_and_latency_tests_are_left_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin's skips are for its own suites: a project's cuda- or latency-marked test runs as the project
    wrote it, under --inspectnet-device auto and under xdist's worker count alike."""
    code = "import pytest\n@pytest.mark.cuda\ndef test_gpu():\n    pass\n"
    pytester.makepyfile(code + "@pytest.mark.latency\ndef test_timed():\n    pass\n")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    result = pytester.runpytest("-rs", "--inspectnet-device", "auto")
    result.assert_outcomes(passed=2)


def test_ids_read_like_the_card_and_category_filters(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_accuracy=(ROOT / "tests" / "acceptance" / "test_accuracy.py").read_text())
    result = pytester.runpytest("--collect-only", "-q", "-m", "accuracy", "--inspectnet-category", "cable")
    ids = [line for line in result.stdout.lines if "::" in line]
    assert "test_accuracy.py::test_image_auroc[patchcore-cable-seed0]" in ids
    assert "test_accuracy.py::test_aupro[patchcore-cable-seed0-coreset0.25]" in ids
    assert "test_accuracy.py::test_pixel_auroc[padim-cable-seed0]" in ids
    assert "test_accuracy.py::test_ablation[cable]" in ids
    assert not [i for i in ids if "bottle" in i]


def test_seeds_option_replaces_the_plan_seeds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_accuracy=(ROOT / "tests" / "acceptance" / "test_accuracy.py").read_text())
    result = pytester.runpytest("--collect-only", "-q", "--inspectnet-category", "leather", "--inspectnet-seeds", "3,4")
    ids = [line for line in result.stdout.lines if "test_image_auroc" in line]
    assert sorted(ids) == sorted(
        f"test_accuracy.py::test_image_auroc[{m}-leather-seed{s}]" for m in ("patchcore", "padim") for s in (3, 4)
    )


def test_a_profile_missing_a_planned_table_stops_at_configure_before_training(pytester: pytest.Pytester) -> None:
    """The whole plan is checked when pytest starts: a planned category without criteria is one line naming the
    profile and the key, and nothing is trained or written."""
    pytester.makepyfile(test_accuracy=(ROOT / "tests" / "acceptance" / "test_accuracy.py").read_text())
    profile = pytester.path / "p.toml"
    profile.write_text(
        'schema = 1\n[plan]\nmethods = ["padim"]\ncategories = ["bottle", "leather"]\n'
        "[criteria.padim.bottle]\nimage_auroc = { min = 0.5 }\n"
    )
    result = pytester.runpytest(
        "--inspectnet-criteria",
        str(profile),
        "--inspectnet-store-dir",
        "store",
        "--inspectnet-report-dir",
        "reports/eval",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == [
        f"ERROR: {profile}: no [criteria.padim.leather] table for the planned padim on leather; add it with at least "
        "one of image_auroc, pixel_auroc, aupro = { min = ... }"
    ]
    assert not (pytester.path / "store").exists() and not (pytester.path / "reports").exists()


def test_a_partial_profile_collects_every_metric_test(pytester: pytest.Pytester) -> None:
    """Only image_auroc set: the pixel_auroc and aupro tests are still collected (they skip when run, saying so)."""
    pytester.makepyfile(test_accuracy=(ROOT / "tests" / "acceptance" / "test_accuracy.py").read_text())
    profile = pytester.path / "p.toml"
    profile.write_text(
        'schema = 1\n[plan]\nmethods = ["padim"]\ncategories = ["leather"]\n'
        "[criteria.padim.leather]\nimage_auroc = { min = 0.5 }\n"
    )
    result = pytester.runpytest("--collect-only", "-q", "--inspectnet-criteria", str(profile))
    assert result.ret == pytest.ExitCode.OK
    ids = [line for line in result.stdout.lines if "::" in line]
    for metric in ("image_auroc", "pixel_auroc", "aupro"):
        assert f"test_accuracy.py::test_{metric}[padim-leather-seed0]" in ids
