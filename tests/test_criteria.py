"""Criteria profiles: parsing, the plan, verdict messages, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspectnet.criteria import CriteriaError, Criterion, load_profile, packaged
from inspectnet.names import METRICS


@pytest.mark.parametrize("dataset", ["synthetic", "mvtec_ad"])
def test_packaged_profiles_cover_every_planned_method_category_and_metric(dataset: str) -> None:
    """Every minimum sits above chance (AUROC 0.5; AUPRO of a random map 0.15), so a random detector fails it."""
    chance = {"image_auroc": 0.5, "pixel_auroc": 0.5, "aupro": 0.15}
    profile = load_profile(packaged(dataset))
    assert profile.plan.categories == ("bottle", "cable", "capsule", "leather")
    for run in profile.plan.runs():
        for metric in METRICS:
            assert profile.criterion(run.method, run.category, metric).minimum > chance[metric]


def test_the_card_plan_three_seeds_on_bottle_and_leather_and_the_cable_sweep() -> None:
    ids = [r.test_id for r in load_profile(packaged("mvtec_ad")).plan.runs()]
    assert "patchcore-bottle-seed2" in ids and "patchcore-leather-seed1" in ids
    assert "patchcore-cable-seed0-coreset0.10" in ids and "patchcore-cable-seed0-coreset0.25" in ids
    assert "patchcore-cable-seed1" not in ids and "padim-bottle-seed1" not in ids
    assert len(ids) == 4 * 2 + 4 + 2


def test_reference_and_tolerance_define_the_minimum() -> None:
    profile = load_profile(packaged("mvtec_ad"))
    cable = profile.criterion("patchcore", "cable", "image_auroc")
    assert cable.minimum == pytest.approx(0.9910 - 0.02)
    assert "reference 0.9910 - tolerance 0.0200" in cable.describe()


def test_a_verdict_says_metric_value_threshold_margin_and_record() -> None:
    verdict = Criterion("aupro", 0.9).check(0.85)
    assert not verdict.passed
    message = verdict.message("patchcore-cable-seed0", "reports/eval_harness/patchcore_cable.json")
    assert message == (
        "patchcore-cable-seed0: aupro = 0.8500 < minimum 0.9000 (margin -0.0500); "
        "record: reports/eval_harness/patchcore_cable.json"
    )


BASE = 'schema = 1\n[plan]\ncategories = ["bottle"]\n'


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            BASE + "[criteria.patchcore.bottle]\naupro = { min = 0.9, reference = 0.95, tolerance = 0.1 }\n",
            "one of min, min_lower",
        ),
        (
            BASE + "[criteria.patchcore.bottle]\naupro = { min = 0.9, min_lower = 0.8 }\n",
            "one of min, min_lower",
        ),
        (BASE + "[criteria.patchcore.bottle]\naupro = { min = 'high' }\n", "must be a number"),
        (
            BASE + "[criteria.patchcore.bottle]\naupro = { reference = 0.9 }\n",
            "needs min, min_lower, or reference and tolerance",
        ),
        (
            BASE + "[criteria.patchcore.bottle]\naupro = { min = 0.9, slack = 1 }\n",
            "unknown key criteria.patchcore.bottle.aupro.slack",
        ),
        (BASE + "[criteria.fastflow.bottle]\naupro = { min = 0.9 }\n", "unknown key criteria.fastflow"),
        (BASE + "[criteria.patchcore.grid]\naupro = { min = 0.9 }\n", "unknown key criteria.patchcore.grid"),
        (BASE + "extra = 1\n", "unknown key plan.extra"),
        ('schema = 2\n[plan]\ncategories = ["bottle"]\n', "schema must be 1"),
        ('schema = 1\n[plan]\ncategories = ["bottle"]\ncoreset = 0\n', "not in \\(0, 1\\]"),
        ('schema = 1\nplan = "x"\n', "plan must be a table"),
        ("schema = 1\n[plan\n", "not a readable TOML"),
    ],
)
def test_bad_profiles_are_refused_naming_the_key(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(CriteriaError, match=match) as exc:
        load_profile(path)
    assert str(path) in str(exc.value)


PARTIAL = BASE.replace('["bottle"]', '["bottle", "cable"]') + (
    'methods = ["patchcore"]\n[criteria.patchcore.bottle]\nimage_auroc = { min = 0.9 }\n'
    "[criteria.patchcore.cable]\naupro = { reference = 0.9, tolerance = 0.05 }\n"
)


def test_a_partial_profile_sets_some_metrics_and_the_others_have_none(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(PARTIAL)
    profile = load_profile(path)
    assert profile.criterion_or_none("patchcore", "bottle", "image_auroc") == Criterion("image_auroc", 0.9)
    assert profile.criterion_or_none("patchcore", "bottle", "pixel_auroc") is None
    assert profile.criterion_or_none("patchcore", "cable", "aupro") == Criterion("aupro", 0.85, 0.9, 0.05)
    assert profile.criterion_or_none("padim", "bottle", "image_auroc") is None
    assert profile.no_criterion("patchcore", "bottle", "pixel_auroc") == (
        f"no criterion for pixel_auroc of patchcore/bottle in {path}"
    )
    with pytest.raises(CriteriaError, match=r"no criterion for patchcore.bottle.aupro"):
        profile.criterion("patchcore", "bottle", "aupro")
    profile.check_runs(profile.plan.runs())  # every planned table sets at least one metric: valid


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (  # a planned category with no table at all
            BASE.replace('["bottle"]', '["bottle", "cable"]')
            + 'methods = ["patchcore"]\n[criteria.patchcore.bottle]\nimage_auroc = { min = 0.9 }\n',
            r"no \[criteria.patchcore.cable\] table for the planned patchcore on cable",
        ),
        (  # a planned method with no table
            BASE + "[criteria.patchcore.bottle]\nimage_auroc = { min = 0.9 }\n",
            r"no \[criteria.padim.bottle\] table",
        ),
        (  # a table that sets nothing
            BASE + 'methods = ["patchcore"]\n[criteria.patchcore.bottle]\n',
            r"\[criteria.patchcore.bottle\] sets no criterion",
        ),
    ],
)
def test_a_planned_run_without_any_criterion_is_refused_naming_the_key(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    profile = load_profile(path)  # parses: what is planned is checked against the plan being run
    with pytest.raises(CriteriaError, match=match) as exc:
        profile.check_runs(profile.plan.runs())
    assert str(exc.value).startswith(f"{path}: ")


def test_criteria_for_a_category_outside_the_plan_are_known_when_it_is_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BASE + 'methods = ["patchcore"]\n[criteria.patchcore.grid]\nimage_auroc = { min = 0.9 }\n')
    with pytest.raises(CriteriaError, match=r"unknown key criteria\.patchcore\.grid"):
        load_profile(path)
    profile = load_profile(path, ("grid",))  # --category grid
    profile.check_runs(profile.plan.runs(["grid"]))
    with pytest.raises(CriteriaError, match=r"no \[criteria.patchcore.bottle\] table"):
        profile.check_runs(profile.plan.runs())


def test_a_folder_dataset_starts_from_the_mvtec_ad_profile() -> None:
    assert packaged("folder") == packaged("mvtec_ad")
    for dataset in ("synthetic", "mvtec_ad"):
        profile = load_profile(packaged(dataset))
        profile.check_runs(profile.plan.runs())


def test_a_criterion_on_the_lower_bound_judges_the_interval(tmp_path: Path) -> None:
    """``{ min_lower = X }`` passes only when the 95% interval's lower bound reaches X; its message gives the
    point value, the interval and the split's size; without an interval it cannot pass."""
    from inspectnet.criteria import Bound

    path = tmp_path / "p.toml"
    path.write_text(BASE + "[criteria.patchcore.bottle]\nimage_auroc = { min_lower = 0.7 }\n")
    criterion = load_profile(path).criteria[("patchcore", "bottle")]["image_auroc"]
    assert criterion.on_lower and criterion.minimum == 0.7
    wide = criterion.check(0.80, Bound(0.66, 0.90, 16, 32))
    assert not wide.passed  # the point value clears 0.7, the bound does not
    message = wide.message("patchcore-bottle")
    assert "image_auroc = 0.8000 [95% interval 0.6600, 0.9000 on 48 test images: 16 good, 32 defective]" in message
    assert "lower bound" in message and "margin -0.0400" in message
    assert criterion.check(0.80, Bound(0.72, 0.88, 16, 32)).passed
    assert not criterion.check(0.99).passed  # no interval: nothing to judge
