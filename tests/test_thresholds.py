"""Threshold sanity (``inspectnet/measure/thresholds.py``): the exact Clopper-Pearson bound, where a threshold
sits among the test scores, each degenerate case's one-line message, the profile's false-alarm limit, the
record and the card's table. Fast: no model is trained here (``tests/test_threshold_checkpoints.py`` judges
real anomalib checkpoints)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import beta

from inspectnet.criteria import CriteriaError, load_profile
from inspectnet.deploy.calibration import Calibration
from inspectnet.measure.thresholds import (
    Origin,
    clopper_pearson_upper,
    images_to_show,
    limit_problem,
    measure,
    problems,
)
from inspectnet.names import RunKey

CKPT = "results/Patchcore/MVTecAD/bottle/v0/weights/lightning/model.ckpt"
GIVEN = Origin(CKPT)
OWN = Origin()
LABELS = np.array([False, False, False, False, True, True, True])
SCORES = np.array([0.20, 0.25, 0.30, 0.35, 0.32, 0.50, 0.60])


def _calibration(threshold: float = 0.31, **bounds: float) -> Calibration:
    values = {"image_min": 0.2, "image_max": 0.6, "pixel_min": 0.0, "pixel_max": 0.9} | bounds
    return Calibration(image_threshold=threshold, pixel_threshold=0.4, **values)


@pytest.mark.parametrize(("k", "n", "upper"), [(0, 10, 0.3085), (1, 20, 0.2487), (0, 16, 0.2059), (3, 16, 0.4565)])
def test_clopper_pearson_upper_known_values(k: int, n: int, upper: float) -> None:
    assert clopper_pearson_upper(k, n) == pytest.approx(upper, abs=5e-5)


def test_clopper_pearson_upper_is_the_beta_quantile() -> None:
    for n in (1, 2, 5, 16, 48, 200, 5000):
        for k in sorted({0, 1, n // 3, n - 1, n}):
            expected = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
            assert clopper_pearson_upper(k, n) == pytest.approx(expected, abs=1e-12), (k, n)
    assert clopper_pearson_upper(0, 10, confidence=0.9) == pytest.approx(1 - 0.05 ** (1 / 10), abs=1e-14)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        clopper_pearson_upper(3, 2)


def test_images_to_show_a_limit_is_the_fewest_with_none_flagged() -> None:
    assert images_to_show(0.2) == 17
    assert clopper_pearson_upper(0, 17) <= 0.2 < clopper_pearson_upper(0, 16)
    assert images_to_show(0.05) == 72 and images_to_show(1.0) == 1


def test_measure_counts_flagged_images_as_anomalib_does_score_above_threshold() -> None:
    facts = measure(SCORES, LABELS, 0.30)  # 0.30 itself is not flagged
    assert (facts.normal_images, facts.anomalous_images, facts.false_alarms, facts.missed) == (4, 3, 1, 0)
    assert (facts.lowest_normal, facts.highest_normal, facts.lowest_anomalous, facts.highest_score) == (
        0.20,
        0.35,
        0.32,
        0.60,
    )
    assert facts.false_alarm_rate == 0.25 and facts.false_alarm_upper == pytest.approx(clopper_pearson_upper(1, 4))
    only_defects = measure(SCORES[LABELS], LABELS[LABELS], 0.4)
    assert only_defects.lowest_normal is None and only_defects.false_alarm_rate is None


def test_a_sane_threshold_has_no_problem() -> None:
    assert problems(_calibration(0.31), measure(SCORES, LABELS, 0.31), GIVEN) == []


def test_a_threshold_below_every_normal_score_names_the_anomalib_cause() -> None:
    (message,) = problems(_calibration(0.112), measure(SCORES, LABELS, 0.112), GIVEN)
    assert message == (
        "image threshold 0.112 is below every normal test score: it was likely set on validation data without "
        "anomalies (anomalib F1AdaptiveThreshold); calibrate on data with anomalies or set it "
        f"(post_processor._image_threshold in {CKPT}); lowest normal test score 0.2, 4 of 4 normal test images "
        "flagged"
    )
    (at,) = problems(_calibration(0.2), measure(SCORES, LABELS, 0.2), GIVEN)
    assert at.startswith("image threshold 0.2 is at the lowest normal test score: it was likely set on validation")


def test_a_threshold_above_every_score_flags_nothing() -> None:
    (message,) = problems(_calibration(0.7), measure(SCORES, LABELS, 0.7), GIVEN)
    assert message.startswith("image threshold 0.7 is above every test score (0.6), none is flagged: it was likely")
    assert message.endswith(f"or set it (post_processor._image_threshold in {CKPT})")
    (at,) = problems(_calibration(0.6), measure(SCORES, LABELS, 0.6), GIVEN)
    assert at.startswith("image threshold 0.6 is at the highest test score (0.6)")


def test_degenerate_bounds_and_values_that_are_not_finite() -> None:
    facts = measure(SCORES, LABELS, 0.31)
    (image,) = problems(_calibration(image_min=0.4, image_max=0.4), facts, GIVEN)
    assert image.startswith("normalisation bounds image_min 0.4 >= image_max 0.4: normalised image scores collapse")
    assert "one validation image" in image
    assert image.endswith(f"set them (post_processor.image_min and post_processor.image_max in {CKPT})")
    (pixel,) = problems(_calibration(pixel_min=0.9, pixel_max=0.1), facts, GIVEN)
    assert pixel.startswith("normalisation bounds pixel_min 0.9 >= pixel_max 0.1: normalised pixel maps collapse")
    (infinite,) = problems(_calibration(float("inf")), measure(SCORES, LABELS, float("inf")), GIVEN)
    assert infinite.startswith("image_threshold = inf: not finite: anomalib's PostProcessor")
    assert infinite.endswith(f"set it (post_processor._image_threshold in {CKPT})")


def test_inspectnets_own_calibration_points_at_the_test_split_not_at_anomalib() -> None:
    (message,) = problems(_calibration(0.112), measure(SCORES, LABELS, 0.112), OWN)
    assert "F1AdaptiveThreshold" not in message and "InspectNet calibrated it on the test split" in message
    assert "inspectnet data check" in message


def test_the_false_alarm_limit_is_judged_on_the_upper_bound() -> None:
    where = "profile.toml [criteria.patchcore.bottle] false_alarm_rate"
    scores = np.concatenate([np.linspace(0.0, 0.3, 40), [0.9, 0.95]])
    labels = np.array([False] * 40 + [True] * 2)
    sane = measure(scores, labels, 0.295)  # 1 of 40 flagged: upper 0.1316
    assert limit_problem(sane, 0.15, where, GIVEN) is None
    message = limit_problem(sane, 0.1, where, GIVEN)
    assert message == (
        f"false-alarm rate 1/40 = 0.025, Clopper-Pearson 95% upper bound 0.132 > max 0.1 ({where}): fewer flagged "
        f"normal images: raise the image threshold (post_processor._image_threshold in {CKPT}) or improve the model"
    )
    few = limit_problem(measure(SCORES, LABELS, 0.4), 0.2, where, GIVEN)  # none of 4 flagged
    assert few is not None and "4 normal test images cannot show a rate under 0.2 even with none flagged: 17 can" in few
    none = limit_problem(measure(SCORES[LABELS], LABELS[LABELS], 0.4), 0.2, where, GIVEN)
    assert none is not None and none.startswith("false-alarm rate not measured: the test split has no normal image")


BASE = 'schema = 1\n[plan]\ncategories = ["bottle"]\n[criteria.patchcore.bottle]\n'


def test_the_profile_sets_a_false_alarm_limit_beside_the_metrics(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BASE + "image_auroc = { min = 0.5 }\nfalse_alarm_rate = { max = 0.2, note = 'measured' }\n")
    profile = load_profile(path)
    limit = profile.false_alarm_limit("patchcore", "bottle")
    assert limit is not None and limit.maximum == 0.2
    assert limit.where == f"{path} [criteria.patchcore.bottle] false_alarm_rate"
    assert limit.source == "p.toml [criteria.patchcore.bottle] false_alarm_rate"
    assert set(profile.criteria[("patchcore", "bottle")]) == {"image_auroc"}
    assert profile.false_alarm_limit("padim", "bottle") is None
    path.write_text(BASE + "false_alarm_rate = { max = 1 }\n")  # a table with only the limit sets a criterion
    load_profile(path).check_runs([RunKey("patchcore", "bottle", 0)])


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("false_alarm_rate = { max = 0 }", r"false_alarm_rate.max must be a number in \(0, 1\], got 0"),
        ("false_alarm_rate = { max = 1.5 }", "must be a number in"),
        ("false_alarm_rate = { max = true }", "must be a number in"),
        ("false_alarm_rate = { min = 0.1 }", r"false_alarm_rate must be a table like \{ max = 0.2 \}"),
        (
            "false_alarm_rate = { max = 0.2, upper = 1 }",
            r"unknown key criteria.patchcore.bottle.false_alarm_rate.upper",
        ),
        (
            "false_alarm_rates = { max = 0.2 }",
            "unknown key criteria.patchcore.bottle.false_alarm_rates .*false_alarm_rate",
        ),
    ],
)
def test_a_bad_false_alarm_limit_is_refused_naming_the_file_and_key(tmp_path: Path, line: str, match: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BASE + "image_auroc = { min = 0.5 }\n" + line + "\n")
    with pytest.raises(CriteriaError, match=match) as raised:
        load_profile(path)
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)


def _record(threshold: float, limit: tuple[float, str] | None = None):  # type: ignore[no-untyped-def]
    from inspectnet.builders import threshold_record
    from inspectnet.models.train import default_spec

    facts = measure(SCORES, LABELS, threshold)
    failures = problems(_calibration(threshold), facts, GIVEN)
    spec = default_spec("patchcore", "bottle", 0, 0.01)
    return threshold_record("patchcore_bottle", spec, _calibration(threshold), facts, CKPT, limit, failures, "x.json")


def test_the_record_round_trips_and_says_where_the_thresholds_came_from() -> None:
    from inspectnet.records import ThresholdRecord, parse

    record = _record(0.112, (0.5, "p.toml [criteria.patchcore.bottle] false_alarm_rate"))
    again = parse(record.to_json())
    assert isinstance(again, ThresholdRecord) and again == record and again.to_json() == record.to_json()
    assert record.thresholds_from == "checkpoint" and record.checkpoint == CKPT and not record.sane
    assert record.limit is not None and record.limit.max == 0.5 and record.facts.false_alarms == 4


def test_the_card_shows_the_threshold_table_and_why_a_model_is_not_sane(tmp_path: Path) -> None:
    from inspectnet.records import write_record
    from inspectnet.report.build import render_card

    root = tmp_path / "reports"
    shutil.copytree(Path(__file__).parent / "fixtures" / "reports", root)
    for committed in (root / "eval_harness").glob("thresholds_*.json"):
        committed.unlink()
    render_card(root)
    assert "## Thresholds\n\nnot measured\n" in (root / "MODEL_CARD.md").read_text()
    write_record(root / "eval_harness" / "thresholds_patchcore_bottle.json", _record(0.112))
    render_card(root)
    card = (root / "MODEL_CARD.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| patchcore_bottle | checkpoint |"))
    assert "| 0.1120 | 0.2000 | 0.6000 | 4/4 | 1.000 | 1.000 | none | **fails** |" in row
    assert "Not sane because:\n\n- patchcore_bottle: image threshold 0.112 is below every normal test score" in card
    provenance = (root / "PROVENANCE.md").read_text()
    assert (
        "| thresholds | patchcore_bottle image threshold | 0.1120 | `eval_harness/thresholds_patchcore_bottle.json`"
        in (provenance)
    )
