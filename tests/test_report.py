"""Reporting: load and refuse, render the card from records alone (deterministic, every number traceable),
checksums, merge, and records travelling from xdist workers to the controller."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inspectnet.cli import main
from inspectnet.measure.intervals import LEVEL
from inspectnet.measure.stages import FACTOR
from inspectnet.records import RecordError
from inspectnet.report.build import merge, render_card
from inspectnet.report.card import SECTIONS, render
from inspectnet.report.cite import MARK_CLOSE, MARK_OPEN
from inspectnet.report.load import ReportSet, load_reports

FIXTURE = Path(__file__).parent / "fixtures" / "reports"
pytest_plugins = ["pytester"]


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    shutil.copytree(FIXTURE, root)
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_card_is_rendered_from_records_alone_and_byte_identical(reports: Path) -> None:
    assert main(["card", "--reports", str(reports)]) == 0
    first = _tree(reports)
    card = first["MODEL_CARD.md"].decode()
    assert card.startswith("---\nlicense: apache-2.0\n") and "model-index:" in card
    for section in (
        "## Ablation",
        "## Seeds",
        "## Coreset sensitivity",
        "## Latency",
        "## Accuracy / cost",
        "## ONNX / OpenVINO parity",
        "## Licence",
        "## Checkpoints",
        "## Backbone and hyperparameters",
        "## Figures",
        "## Caveats",
        "## Reproduction",
    ):
        assert section in card
    assert "not MVTec AD numbers" in card and "figures/latency_cpu.png" in card
    assert {"figures/curves_bottle.png", "figures/latency_cpu.png", "PROVENANCE.md", "CHECKSUMS.sha256"} <= set(first)
    assert main(["card", "--reports", str(reports)]) == 0
    assert _tree(reports) == first  # figures included


def _at(data: object, path: str) -> object:
    """The raw JSON value at a dotted field path (list indices as numbers), read without the dataclasses."""
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]  # type: ignore[index]
    return data


def test_every_cited_number_is_the_records_value(reports: Path) -> None:
    render_card(reports)
    rows = [r for r in (reports / "PROVENANCE.md").read_text().splitlines() if r.startswith("| ") and "`" in r]
    assert len(rows) > 80
    card = (reports / "MODEL_CARD.md").read_text()
    derived = 0
    for row in rows:
        _, _, _, text, file, field, _ = (c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row))
        assert text in card
        if field.startswith("`="):  # computed from fields: test_derived_numbers_are_their_formulas
            derived += 1
            continue
        value = _at(json.loads((reports / file.strip("`")).read_text()), field.strip("`"))
        if isinstance(value, str):
            assert text == value, row
            continue
        if isinstance(value, float):  # the value, rounded to the decimals shown
            shown = text.replace(",", "")
            percent = shown.endswith("%")
            shown = shown.rstrip("%")
            mantissa, _, exponent = shown.lower().partition("e")  # 7.01e-01: two decimals of 10^-1
            decimals = (len(mantissa.split(".")[1]) if "." in mantissa else 0) - int(exponent or 0)
            scale = 100.0 if percent else 1.0
            assert abs(float(shown) - value * scale) <= 0.5 * 10**-decimals * (1 + 1e-9), row
        else:
            assert text.replace(",", "") == str(value), row


def test_derived_numbers_are_their_formulas(reports: Path) -> None:
    """The numbers the card computes: a test split's image-AUROC step is one over its good x defective pairs."""
    _, cite = render(load_reports(reports))
    steps = [c for c in cite.entries if c.quantity.endswith("image AUROC step")]
    assert steps
    for c in steps:
        counts = json.loads((reports / c.source).read_text())["counts"]
        assert float(c.text) == pytest.approx(1 / (counts["test_good"] * counts["test_defective"]), abs=5e-5)


# A numeral on the card: not part of a name (layer2, AUPRO@0.3, seed1.json, x86_64, Linux-6.18).
NUMERAL = re.compile(r"(?<![\w@./-])[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")
# The constants the card may print uncited, each a definition it states, printed from the code that uses it:
CONSTANTS = {
    f"{LEVEL * 100:g}": "the confidence level of every interval (measure.intervals.LEVEL), stated where they are",
    f"{FACTOR:g}": "the divergence limit's factor (measure.stages.FACTOR): a stage diverges beyond it x its own error",
}


def uncited_numerals(reports: ReportSet) -> list[str]:
    """Every numeral on the rendered card that no citation produced (so has no PROVENANCE row)."""
    marked, _ = render(reports, marked=True)
    plain = re.sub(f"{MARK_OPEN}[^{MARK_CLOSE}]*{MARK_CLOSE}", "§", marked)
    return [
        f"line {n}: {numeral} in: {line.strip()[:120]}"
        for n, line in enumerate(plain.splitlines(), 1)
        for numeral in NUMERAL.findall(line)
        if numeral not in CONSTANTS
    ]


@pytest.mark.parametrize("root", [Path(__file__).parents[1] / "reports", FIXTURE], ids=["committed", "fixture"])
def test_every_number_on_the_card_is_cited(root: Path) -> None:
    reports = load_reports(root)
    assert uncited_numerals(reports) == []
    marked, _ = render(reports, marked=True)
    assert marked.replace(MARK_OPEN, "").replace(MARK_CLOSE, "") == render(reports)[0]


def test_an_uncited_number_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A planted section that prints a number without citing it fails the coverage check."""
    import inspectnet.report.card as card

    monkeypatch.setattr(card, "SECTIONS", (*SECTIONS, lambda r, c: ["bottle image AUROC 0.9731 on 48 images"]))
    found = uncited_numerals(load_reports(FIXTURE))
    assert [f.split(" in:")[0].split(": ")[1] for f in found] == ["0.9731", "48"]


def test_the_model_index_parses_and_says_what_each_number_is(tmp_path: Path) -> None:
    """Hugging Face's own parser reads the committed card's metadata: every result names the synthetic set and
    whether it is a mean over seeds or a single seed; no borrowed Hub dataset id."""
    from huggingface_hub import ModelCard

    text = (Path(__file__).parents[1] / "reports" / "MODEL_CARD.md").read_text()
    results = ModelCard(text).data.eval_results
    assert results and "datasets" not in ModelCard(text).data.to_dict()
    for result in results:
        assert "synthetic" in result.dataset_name and "not MVTec AD" in result.dataset_name
        assert result.dataset_type == "inspectnet-synthetic"
        assert result.metric_name.endswith(("(single seed)", "seeds)")), result.metric_name
    assert "random-init" in ModelCard(text).data.model_name
    assert "± 0.0000" not in text and "(n=1)" not in text


def test_checksums_verify_with_sha256sum(reports: Path) -> None:
    render_card(reports)
    lines = (reports / "CHECKSUMS.sha256").read_text().splitlines()
    names = [line.split("  ", 1)[1] for line in lines]
    assert "MODEL_CARD.md" in names and "README.md" not in names and "CHECKSUMS.sha256" not in names
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((reports / name).read_bytes()).hexdigest() == digest
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "-c", "--quiet", "CHECKSUMS.sha256"], cwd=reports, check=True)


def test_missing_pieces_say_not_measured(reports: Path) -> None:
    for pattern in ("*latency*", "*parity*"):
        for path in (reports / "eval_harness").glob(pattern):
            path.unlink()
    render_card(reports)
    card = (reports / "MODEL_CARD.md").read_text()
    assert "not measured on cpu." in card and "## ONNX / OpenVINO parity\n\nnot measured" in card


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not readable JSON"),
        ('{"kind": "mystery", "schema_version": 5}', "unknown record kind 'mystery'"),
        ('{"kind": "latency", "schema_version": 99}', "schema_version 99"),
        ('{"kind": "ablation", "schema_version": 5}', "malformed ablation record"),
    ],
)
def test_a_bad_record_is_named_and_refused(
    reports: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (reports / "eval_harness" / "broken.json").write_text(content)
    with pytest.raises(RecordError, match=message):
        load_reports(reports)
    assert main(["card", "--reports", str(reports)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.json" in err and message.split("'")[0] in err
    assert not (reports / "MODEL_CARD.md").exists()


def test_merge_unions_shards_and_refuses_conflicts(reports: Path, tmp_path: Path) -> None:
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    shutil.copytree(reports, cpu)
    (gpu / "eval_harness").mkdir(parents=True)
    shutil.move(cpu / "eval_harness" / "patchcore_bottle_latency_cpu.json", gpu / "eval_harness")
    shutil.copy(cpu / "eval_harness" / "patchcore_bottle.json", gpu / "eval_harness")  # identical duplicate: fine
    out = tmp_path / "merged"
    assert main(["report", "merge", "--out", str(out), str(cpu), str(gpu)]) == 0
    assert {k: v for k, v in _tree(out).items() if k != "README.md"} == {
        k: v for k, v in _tree(reports).items() if k != "README.md"
    }
    data = json.loads((gpu / "eval_harness" / "patchcore_bottle.json").read_text())
    data["metrics"]["image_auroc"] = 0.5
    (gpu / "eval_harness" / "patchcore_bottle.json").write_text(json.dumps(data))
    again = tmp_path / "again"
    with pytest.raises(RecordError, match=r"patchcore_bottle\.json conflicts with"):
        merge(again, [cpu, gpu])
    assert not again.exists()


TRANSPORT = """
import pytest
from inspectnet.plugin import sink_of

@pytest.mark.parametrize("i", range(6))
def test_emits(request, i):
    import torch
    sink = sink_of(request.config)
    sink.emit_json(f"eval_harness/r{i}.json", {"kind": "x", "i": i, "torch": torch.__version__})
    sink.emit_bytes(f"figures/f{i}.png", bytes([i, 255 - i]))
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_records_travel_to_the_one_writer(pytester: pytest.Pytester, workers: list[str]) -> None:
    pytester.makepyfile(test_transport=TRANSPORT)
    reports = pytester.path / "out" / "eval_harness"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--inspectnet-report-dir", str(reports), *workers)
    result.assert_outcomes(passed=6)
    tree = _tree(pytester.path / "out")
    assert sorted(tree) == sorted(
        [f"eval_harness/r{i}.json" for i in range(6)] + [f"figures/f{i}.png" for i in range(6)]
    )
    assert json.loads(tree["eval_harness/r3.json"])["i"] == 3  # with a str subclass (TorchVersion) inside
    assert tree["figures/f2.png"] == bytes([2, 253])


def test_the_cli_is_installed() -> None:
    """The console script itself (what a user types), not ``python -m``."""
    exe = Path(sys.executable).with_name("inspectnet")
    out = subprocess.run([str(exe), "card", "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "--reports" in out.stdout


def test_the_committed_card_is_what_its_records_render(tmp_path: Path) -> None:
    """`inspectnet card` over the committed reports/ reproduces MODEL_CARD.md, PROVENANCE.md, CHECKSUMS.sha256
    and the record-made figures byte for byte."""
    committed = Path(__file__).parents[1] / "reports"
    copy = tmp_path / "reports"
    shutil.copytree(committed, copy)
    render_card(copy)
    assert _tree(copy) == _tree(committed)


def test_a_profile_at_another_coreset_ratio_renders_its_base_rows(reports: Path, tmp_path: Path) -> None:
    """Base runs are named by the one rule at any plan coreset: a profile at 0.10 names its base model
    ``patchcore_bottle`` (its 0.01 sweep run ``patchcore_bottle_coreset0.01``), and the card finds its rows."""
    from inspectnet.criteria import load_profile, packaged

    profile = tmp_path / "coreset010.toml"
    text = packaged("synthetic").read_text()
    profile.write_text(
        text.replace("coreset = 0.01", "coreset = 0.10").replace("cable = [0.10, 0.25]", "bottle = [0.01]")
    )
    plan = load_profile(profile).plan
    base = plan.base_run("patchcore", "bottle")
    assert (base.name, plan.coreset_of(base)) == ("patchcore_bottle", 0.10)
    names = [r.name for r in plan.runs(["bottle"])]
    assert "patchcore_bottle_coreset0.01" in names and "patchcore_bottle_coreset0.10" not in names
    # the records such a session writes: the base model trained at 0.10 under its plan's name
    path = reports / "eval_harness" / f"{base.name}.json"
    data = json.loads(path.read_text())
    data["coreset"] = data["model"]["coreset"] = 0.10
    path.write_text(json.dumps(data))
    render_card(reports)
    card = (reports / "MODEL_CARD.md").read_text()
    headline = next(line for line in card.splitlines() if line.startswith("| bottle | "))
    assert "not measured" not in headline  # the split's size and step come from the base run
    seeds = card.split("## Seeds")[1].split("##")[0]
    assert "`eval_harness/patchcore_bottle.json`" in seeds and f"{data['metrics']['image_auroc']:.4f}" in seeds
