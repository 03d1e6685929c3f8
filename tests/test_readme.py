"""README.md is the user's manual, and every command in it works.

Every command line of README's ```sh blocks is in COMMANDS below, which says how it is exercised; the test fails
when README has a command the table lacks, or the table has one README lost:

- the ``inspectnet`` commands run for real, in README's order, in a temporary directory holding a copy of
  reports/ (``inspectnet init`` in a temporary project holding real anomalib checkpoints);
- the ``pytest`` commands run with ``--collect-only`` in the repository root, their records and store in a
  temporary directory: exit 0 and at least one test selected prove that every option, marker and path in them
  resolves. One subprocess collects them all, one ``pytest.main`` after another, so the imports are paid once;
  it starts first and works while the session's checkpoints and dataset are made and the ``inspectnet``
  commands run (two processes at a time);
- ``make run`` / ``make test`` are not run, and the ``pip`` lines are the packaging test's (Elsewhere).

Placeholders README uses for what this machine lacks (``/data/mvtec_ad``, ``results``, ``model.ckpt``, ...) are
replaced by stand-ins of the same kind (PLACEHOLDERS, GIVEN). Besides, it checks README's length, that it names
every marker and every ``--inspectnet-`` option the plugin defines, that it writes no measured number (those are
the records' and the card's), that its tested versions are constraints.txt's pins, and that its command
reference shows exactly the options of each command's ``--help``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from inspectnet.options import GROUP, OPTIONS
from inspectnet.plugin import MARKERS
from tests.test_packaging import constraints

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
MAX_LINES = 350
Results = tuple[Path, dict[str, Path]]


@dataclass(frozen=True)
class Make:
    """Not run here (``make run``, ``make test``)."""

    why: str


@dataclass(frozen=True)
class Elsewhere:
    """Exercised by another test file, which must still hold ``evidence`` (each string, verbatim)."""

    test_file: str
    evidence: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Cli:
    """Run for real, in README order, in a temporary working directory holding a copy of reports/ (``work``) or
    a project with an anomalib results tree in results/ and its data in data/ (``project``)."""

    cwd: str = "work"
    prints: tuple[str, ...] = ()  # in its output
    creates: tuple[str, ...] = ()  # paths relative to cwd
    shell: bool = False  # through bash (``cd x && ...``)
    in_process: bool = False  # through inspectnet.cli.main here (the entry point the console script calls)
    leave_out: tuple[str, ...] = ()  # arguments not passed here (said why in ``why``)
    why: str = ""


@dataclass(frozen=True)
class Pytest:
    """Run with ``--collect-only`` (unless ``collect`` is False) in the repository root (or an empty directory),
    its records and store in a temporary directory: exit 0 and at least one test selected."""

    collect: bool = True
    cwd: str = "root"
    each_id: tuple[str, ...] = ()  # every selected test's id holds these
    some_id: tuple[str, ...] = ()  # at least one id holds each
    no_id: tuple[str, ...] = ()  # no id holds any
    prints: tuple[str, ...] = ()  # in its output
    needs_cuda: bool = False  # without CUDA: the usage error that README promises
    why: str = ""


Exercise = Make | Elsewhere | Cli | Pytest
OTHER_CATEGORIES = ("cable", "capsule", "leather")  # not selected by --category bottle
BENCHMARKS = ("metric_speed", "coreset_speed", "parity_margin", "gate_quality", "floor_portability")

COMMANDS: dict[str, Exercise] = {
    # This repository
    "make run": Make("the whole pipeline, tens of minutes; its commands are inspectnet/pipeline.py's"),
    "make test": Make("this test is part of it"),
    # Use it in your own project
    "pip install inspectnet": Elsewhere(
        "tests/test_packaging.py",
        ("def test_the_wheel_requires_ranges_not_pins", "def test_the_wheel_registers_the_pytest_plugin"),
        "not run (a download of 3-4 GB); test_packaging checks what it installs: modules, entry points, ranges",
    ),
    "pip install -c constraints.txt inspectnet": Elsewhere(
        "tests/test_packaging.py",
        ("def test_constraints_pin_every_dependency_inside_its_range",),
        "not run; test_packaging checks that constraints.txt pins every dependency inside its range",
    ),
    "python -m pip wheel --no-deps -w dist .": Elsewhere(
        "tests/test_packaging.py",
        ('"pip", "wheel", "--no-deps"',),
        "test_packaging's wheel fixture builds it so (offline: --no-build-isolation --no-index, from a copy)",
    ),
    "pytest --help": Pytest(
        collect=False, cwd="empty", prints=(GROUP[1], *(o.flag for o in OPTIONS)), why="in an empty directory"
    ),
    "inspectnet init --model-dir results --data-root data --dataset-licence CC0-1.0 --from-current": Cli(
        cwd="project",
        creates=("inspectnet.toml", "pytest.ini", ".github/workflows/inspectnet.yml"),
        leave_out=("--from-current",),
        in_process=True,
        why="--from-current evaluates both models, and a fresh process imports anomalib (seconds each): "
        "tests/test_user_project.py runs the whole line in a subprocess",
    ),
    'pytest -m "accuracy or parity"': Pytest(some_id=("test_parity[", "test_image_auroc[")),
    "inspectnet card --reports reports": Cli(creates=("reports/MODEL_CARD.md", "reports/PROVENANCE.md")),
    # Command reference
    "inspectnet --help": Cli(prints=("data", "card", "budget", "report", "gate", "init")),
    # Accuracy
    "pytest -m accuracy": Pytest(some_id=("test_image_auroc[", "test_threshold[")),
    "pytest -m accuracy -k threshold --category bottle": Pytest(each_id=("threshold", "bottle")),
    # Latency
    "pytest benchmarks": Pytest(some_id=("-cpu-", "-cuda-"), why="the CUDA cases are collected (and skip at run time)"),
    "pytest benchmarks --device cuda": Pytest(needs_cuda=True, each_id=("cuda",)),
    "inspectnet budget --from reports": Cli(prints=("[[latency.cpu.machine]]",)),
    # Parity
    "pytest -m parity": Pytest(some_id=("onnxruntime", "openvino")),
    # Deployment candidates
    "pytest -m candidates": Pytest(some_id=("bottle-openvino-int8", "leather-openvino-bf16")),
    # Reports and the card
    "cd reports && sha256sum -c CHECKSUMS.sha256": Cli(shell=True, why="after the card above re-rendered the copy"),
    "inspectnet report merge --out merged cpu-reports gpu-reports": Cli(
        creates=("merged/eval_harness/patchcore_bottle.json", "merged/eval_harness/patchcore_bottle_latency_cpu.json"),
        why="cpu-reports/ and gpu-reports/ split reports/'s records (latency in one, the rest in the other)",
    ),
    # Regression gate
    "inspectnet gate --baseline reports --current merged --json verdict.json": Cli(
        prints=("no regression",), creates=("verdict.json",), why="records mode: no exported model is in ./.inspectnet"
    ),
    "pytest benchmarks --device cpu --report-dir=out/eval_harness --baseline=reports": Pytest(
        no_id=("cuda",),
        prints=("no regression",),
        why="out/eval_harness holds a copy of the committed records: the gate at session end runs even under "
        "--collect-only, on records (the store is empty)",
    ),
    # Data
    "inspectnet data check data/synthetic": Cli(prints=("4 categories, all valid",)),
    "inspectnet data check /data/mvtec_ad": Cli(prints=("bottle",), why="the embedded set stands in for MVTec AD"),
    'pytest -m "accuracy or parity" --dataset mvtec_ad --data-root=/data/mvtec_ad --weights=/models/backbones/': Pytest(
        some_id=("test_parity[", "test_image_auroc["),
        why="weights are looked up when a model is first built, not at collection; the directory must exist",
    ),
    'pytest -m accuracy --dataset folder --data-root=/data/pcb --dataset-licence "proprietary, Acme Ltd."': Pytest(),
    # Your model under test
    'pytest -m "accuracy or parity" --model-dir=results --category bottle': Pytest(
        no_id=OTHER_CATEGORIES, why="results: anomalib's own Engine fitted PatchCore and PaDiM (conftest.py)"
    ),
    "pytest -m accuracy --model bottle=model.ckpt --model-sha256 bottle=SHA256 --category bottle": Pytest(
        no_id=OTHER_CATEGORIES, why="the PatchCore checkpoint of anomalib_results, pinned by its real sha256"
    ),
    # Benchmarks of this repository
    "pytest benchmarks -m slow --run-slow": Pytest(
        some_id=tuple(f"benchmarks/test_{b}.py::" for b in BENCHMARKS), no_id=("test_latency[",)
    ),
    "python -m inspectnet.harness.wholecard --sizes mvtec --out reports/eval_harness/whole_card_mvtec.json": Elsewhere(
        "tests/test_ledger.py",
        ("def test_the_benchmark_refuses_a_revision_it_cannot_check_out", "def test_the_benchmark_books_each_step"),
        "not run here (the whole card, twice over at MVTec AD's sizes); its parts and its errors are tested there",
    ),
    "python -m inspectnet.harness.wholecard --rev OLD --rev HEAD --out reports/eval_harness/whole_card_embedded.json": (
        Elsewhere(
            "tests/test_ledger.py",
            ("def test_two_runs_are_compared_number_for_number",),
            "not run here (make run twice); the comparison of two runs' records is tested there",
        )
    ),
}

# Placeholders README uses for what a user has and this machine lacks. The pytest commands are only collected,
# which reads no data: an existing directory is all that configure-time validation asks of a path there. The
# inspectnet commands read data: for them MVTec AD's stand-in is the embedded set (its layout, its categories).
PLACEHOLDERS = ("/data/mvtec_ad", "data/synthetic", "/data/pcb", "/models/backbones/", "out/eval_harness")
GIVEN = ("results", "model.ckpt", "SHA256")  # the conftest's anomalib_results: anomalib's own Engine fitted them

# Numbers README may write because they are configuration a user types or the tool's documented defaults, not
# measurements (each is checked to still be that default in test_the_allowed_numbers_are_still_the_defaults).
ALLOWED_NUMBERS = {
    "3.11": "the Python version the package requires (pyproject.toml requires-python)",
    "0.01": "PatchCore's coreset ratio in the packaged profiles' [plan] (anomalib's default)",
    "0.02": "inspectnet init --tolerance's default",
    "0.25": "inspectnet budget --margin's default",
    "1e-3": "the packaged profiles' [parity] tolerance",
}
VERSION = re.compile(r"(?<![\d.])\d+\.\d+\.\d+(?!\d|\.\d)")
MEASURED = (
    re.compile(r"(?<![\d.])\d+\.\d{2,}(?!\d|\.\d)"),  # 0.8027, 3.14, 2.26x
    re.compile(r"(?<![\d.])\d+(?:\.\d+)?e-\d+(?!\d|\.\d)"),  # 3.3e-06, 1e-4
    re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|min|GB|MB|GFLOP/s)\b"),  # a time, a size, a rate
    re.compile(r"(?<![\w.])\d+(?:\.\d+)? s\b"),  # 7.5 s
    re.compile(r"(?<![\w.])\d+\.\d+x\b"),  # a speed-up, 2.3x
)


def readme() -> str:
    return README.read_text()


def fenced(text: str) -> Iterator[tuple[str, str]]:
    """(language, body) of every fenced block."""
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        yield match.group(1), match.group(2)


def _strip_comment(line: str) -> str:
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def commands(text: str) -> list[str]:
    """Every command line of the ```sh blocks, comments stripped, continued lines joined, in order, once."""
    found: list[str] = []
    for language, body in fenced(text):
        if language != "sh":
            continue
        pending = ""
        for raw in body.splitlines():
            line = _strip_comment(raw).strip()
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            line = (pending + line).strip()
            pending = ""
            if line and line not in found:
                found.append(line)
    return found


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a line starting with it) up to the next heading of its level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])),
        len(lines),
    )
    return "\n".join(lines[start:end])


def prose(text: str) -> str:
    return re.sub(r"^```\w*\n.*?^```", "", text, flags=re.S | re.M)


def synopses(text: str) -> list[str]:
    """The ``inspectnet ...`` synopses of the command reference table."""
    rows = re.findall(r"^\| `(inspectnet [^`]+)` \|", section(text, "## Command reference"), re.M)
    return [row.replace("\\|", "|") for row in rows]


def subcommand(synopsis: str) -> list[str]:
    words = []
    for word in synopsis.split()[1:]:
        if not re.fullmatch(r"[a-z]+", word):
            break
        words.append(word)
    return words


README_COMMANDS = commands(readme())


# ---------------------------------------------------------------------------------------------- the text itself


def test_readme_is_at_most_350_lines() -> None:
    assert len(readme().splitlines()) <= MAX_LINES, (
        f"README has {len(readme().splitlines())} lines; move detail to ARCHITECTURE.md"
    )


def test_every_readme_command_is_in_the_table_and_every_table_command_in_readme() -> None:
    found = commands(readme())
    missing = [c for c in found if c not in COMMANDS]
    lost = [c for c in COMMANDS if c not in found]
    assert not missing, f"README commands with no entry in tests/test_readme.py's COMMANDS: {missing}"
    assert not lost, f"COMMANDS entries README no longer has: {lost}"


def test_inline_commands_are_ones_the_table_or_the_command_reference_knows() -> None:
    """A full command written in running text (`pytest ...`, `inspectnet ...`) must be one that is exercised."""
    known = set(commands(readme())) | set(synopses(readme()))
    names = {" ".join(["inspectnet", *subcommand(s)][: n + 1]) for s in synopses(readme()) for n in range(3)}
    inline = [s.replace("\\|", "|") for s in re.findall(r"`([^`\n]+)`", prose(readme()))]
    unknown = [s for s in inline if s.startswith(("pytest ", "inspectnet ")) and s not in known | names]
    assert not unknown, f"commands in README's text that no test runs (put them in a ```sh block): {unknown}"


def test_every_marker_the_plugin_registers_is_named() -> None:
    text = readme()
    assert not [m for m in MARKERS if f"`{m}`" not in text], "README names every marker of inspectnet/plugin.py"


def test_every_plugin_option_is_in_the_options_section() -> None:
    options = section(readme(), "## Options")
    missing = [o.flag for o in OPTIONS if f"`{o.flag}" not in options]
    assert not missing, f"README's Options section lacks {missing}"


# A block README holds between these markers is generated from records and checked against them by a test
# (the gate's example: tests/test_gate.py::test_the_readme_gate_example_is_what_the_gate_prints).
GENERATED = re.compile(r"<!-- gate-example: generated -->.*?<!-- /gate-example -->", re.S)


def test_no_measured_number_is_written_into_readme() -> None:
    """Measurements belong to the records and the card (README links there); history to CHANGELOG.md."""
    assert len(GENERATED.findall(readme())) == 1
    text = VERSION.sub("", GENERATED.sub("", readme()))  # version pins: test_the_tested_versions_are_constraints_pins
    found = sorted({m.group(0) for pattern in MEASURED for m in pattern.finditer(text)} - set(ALLOWED_NUMBERS))
    assert not found, f"measured numbers in README (link to reports/MODEL_CARD.md or the record instead): {found}"


def test_the_allowed_numbers_are_still_the_defaults() -> None:
    import tomllib

    from inspectnet.cli import DEFAULT_TOLERANCE
    from inspectnet.criteria import load_profile, packaged
    from inspectnet.report.budget import DEFAULT_MARGIN

    assert "3.11" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert (DEFAULT_TOLERANCE, DEFAULT_MARGIN) == (0.02, 0.25)
    for name in ("synthetic", "mvtec_ad"):
        profile = load_profile(packaged(name))
        assert (profile.plan.coreset, profile.parity.tolerance) == (0.01, 1e-3), name


def test_the_tested_versions_are_constraints_pins() -> None:
    listed = section(readme(), "### Tested versions")
    pins = constraints()
    named = re.findall(r"([A-Za-z][\w\- ]*?) (\d+\.\d+\.\d+)", "\n".join(re.findall(r"^- (.*)$", listed, re.M)))
    assert len(named) >= 15, named
    wrong = {n: (v, pins.get(canonicalize_name(n.replace(" ", "")))) for n, v in named}
    assert not {n: vp for n, vp in wrong.items() if vp[0] != vp[1]}, "README version != constraints.txt pin"


def test_the_command_reference_matches_each_commands_help() -> None:
    rows = synopses(readme())
    assert len(rows) >= 7, rows
    for synopsis in rows:
        help_text = subprocess.run(
            [str(BIN / "inspectnet"), *subcommand(synopsis), "--help"], capture_output=True, text=True, check=True
        ).stdout
        shown = set(re.findall(r"--[a-z][a-z0-9-]*", synopsis))
        offered = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_text)) - {"--help"}
        assert shown == offered, f"{synopsis}: README shows {sorted(shown)}, --help offers {sorted(offered)}"


def test_the_benchmarks_table_names_this_repositorys_slow_benchmarks() -> None:
    named = re.findall(r"^\| `test_(\w+)\.py` \|", section(readme(), "## Benchmarks"), re.M)
    assert tuple(named) == BENCHMARKS
    assert all((ROOT / "benchmarks" / f"test_{name}.py").is_file() for name in named)


def test_links_point_into_the_repository() -> None:
    for target in re.findall(r"\]\(([^)]+)\)", readme()):
        assert "://" not in target, target
        assert (ROOT / target.split("#")[0]).exists(), target


# ------------------------------------------------------------------------------------------- running them


def substitute(tokens: list[str], values: dict[str, str]) -> list[str]:
    """Each placeholder, alone or after ``=`` (``--data-root=/data/mvtec_ad``, ``bottle=model.ckpt``), replaced."""
    done = []
    for token in tokens:
        for placeholder, value in values.items():
            token = re.sub(rf"(^|=){re.escape(placeholder)}$", lambda m, v=value: m.group(1) + v, token)
        done.append(token)
    return done


RUNNER = r"""
import contextlib, io, json, os, sys
import pytest

class Watch:
    def __init__(self):
        self.ids, self.outcomes = None, []
    def pytest_collection_finish(self, session):
        self.ids = [item.nodeid for item in session.items]
    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.skipped:
            self.outcomes.append([report.nodeid, report.outcome, str(report.longrepr)[-400:]])

for line in sys.stdin:
    run = json.loads(line)
    os.chdir(run["cwd"])
    watch, out = Watch(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = pytest.main(run["args"], plugins=[watch])
    result = {"exit": int(code), "ids": watch.ids, "outcomes": watch.outcomes, "output": out.getvalue()[-100000:]}
    with open(os.path.join(sys.argv[1], f"{run['index']}.json"), "w") as fh:
        json.dump(result, fh)
import torch
with open(os.path.join(sys.argv[1], "cuda.json"), "w") as fh:
    json.dump(torch.cuda.is_available(), fh)
"""
RUNTIME_SKIP = "the CUDA cases skip at run time"  # an extra run, not a README command


@dataclass
class Ran:
    exit: int
    output: str
    ids: list[str] | None = None
    outcomes: list[list[str]] = field(default_factory=list)


class Collector:
    """One subprocess that runs ``pytest.main`` for each command it is sent, in turn: the imports (torch, anomalib,
    every test module) are paid once, and it works while this process makes the checkpoints and the dataset."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.out = base / "collected"
        self.out.mkdir()
        self.log = (base / "collector.log").open("w")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(self.out)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=self.log,
            text=True,
        )
        self.sent: list[str] = []

    def send(self, command: str, tokens: list[str], exercise: Pytest) -> None:
        """``pytest`` with ``tokens``, collected (unless ``exercise.collect`` is False), its records and store here."""
        args = list(tokens)
        if exercise.collect:
            args += ["--collect-only", "-q", "-p", "no:cacheprovider", f"--inspectnet-store-dir={self.base / 'store'}"]
            if not any(a.startswith(("--report-dir", "--inspectnet-report-dir")) for a in args):
                args.append(f"--inspectnet-report-dir={self.base / 'records' / 'eval_harness'}")
        cwd = ROOT if exercise.cwd == "root" else self.base / exercise.cwd
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"index": len(self.sent), "cwd": str(cwd), "args": args}) + "\n")
        self.process.stdin.flush()
        self.sent.append(command)

    def results(self) -> tuple[dict[str, Ran], bool]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=600)
        self.log.close()
        assert self.process.returncode == 0, (self.base / "collector.log").read_text()[-4000:]
        done = {}
        for index, command in enumerate(self.sent):
            result = json.loads((self.out / f"{index}.json").read_text())
            done[command] = Ran(result["exit"], result["output"], result["ids"], result["outcomes"])
        return done, json.loads((self.out / "cuda.json").read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _workdirs(base: Path, results: Path, small_bottle: Path) -> dict[str, Path]:
    """work/: a copy of reports/, and its records split into two shards; project/: results/ and data/."""
    work = base / "work"
    shutil.copytree(ROOT / "reports", work / "reports")
    for shard in ("cpu-reports", "gpu-reports"):
        (work / shard / "eval_harness").mkdir(parents=True)
    for record in (ROOT / "reports" / "eval_harness").glob("*.json"):
        shard = "gpu-reports" if "_latency_" in record.name else "cpu-reports"
        shutil.copy2(record, work / shard / "eval_harness" / record.name)
    project = base / "project"
    project.mkdir()
    (project / "results").symlink_to(results)
    (project / "data").symlink_to(small_bottle)
    return {"work": work, "project": project}


def _in_process(command: str, exercise: Cli, cwd: Path) -> Ran:
    from inspectnet.cli import main

    output, here = io.StringIO(), Path.cwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = main([t for t in shlex.split(command)[1:] if t not in exercise.leave_out])
    except SystemExit as exc:  # argparse's usage error
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(here)
    return Ran(code, output.getvalue())


def _run_cli(command: str, exercise: Cli, cwd: Path, data: str) -> Ran:
    if exercise.in_process:
        return _in_process(command, exercise, cwd)
    if exercise.shell:
        argv = ["bash", "-c", command]
    else:
        tokens = [t for t in shlex.split(command)[1:] if t not in exercise.leave_out]
        argv = [str(BIN / "inspectnet"), *substitute(tokens, {"/data/mvtec_ad": data, "data/synthetic": data})]
    run = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    return Ran(run.returncode, run.stdout + run.stderr)


@dataclass
class Runs:
    done: dict[str, Ran]
    cuda: bool
    dirs: dict[str, Path]


@pytest.fixture(scope="module")
def ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Every command run (or collected) once. The collector starts first, on the commands that need no trained
    checkpoint; the session's checkpoints and dataset are made (if no other test made them yet) while it works,
    then it gets the given-model commands, and the inspectnet commands run here meanwhile."""
    base = tmp_path_factory.mktemp("readme")
    light = {p: str(base / Path(p).name) for p in PLACEHOLDERS}  # mvtec_ad, synthetic, pcb, backbones: empty
    for path in [*light.values(), str(base / "empty")]:
        Path(path).mkdir(parents=True)
    shutil.copytree(ROOT / "reports" / "eval_harness", light["out/eval_harness"], dirs_exist_ok=True)
    collector = Collector(base)
    try:
        pytests = [c for c in README_COMMANDS if isinstance(COMMANDS.get(c), Pytest)]
        given = [c for c in pytests if set(GIVEN) & {t.rpartition("=")[2] for t in shlex.split(c)}]
        for command in (c for c in pytests if c not in given):
            exercise = COMMANDS[command]
            assert isinstance(exercise, Pytest)
            collector.send(command, substitute(shlex.split(command)[1:], light), exercise)
        # README: "The default --device auto collects the CUDA cases and skips them without a GPU": one, run.
        skip = ["benchmarks", "-m", "cuda", "-k", "bottle and torch and run1", "-p", "no:cacheprovider", "-rs"]
        skip += [f"--inspectnet-data-root={light['/data/mvtec_ad']}", f"--inspectnet-store-dir={base / 'store'}"]
        skip.append(f"--inspectnet-report-dir={base / 'skip' / 'eval_harness'}")
        collector.send(RUNTIME_SKIP, skip, Pytest(collect=False))

        results: Results = request.getfixturevalue("anomalib_results")
        data: Path = request.getfixturevalue("synthetic_root")
        small_bottle: Path = request.getfixturevalue("small_bottle")
        checkpoint = results[1]["patchcore"]
        values = {
            **light,
            "results": str(results[0]),
            "model.ckpt": str(checkpoint),
            "SHA256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
        }
        for command in given:
            exercise = COMMANDS[command]
            assert isinstance(exercise, Pytest)
            collector.send(command, substitute(shlex.split(command)[1:], values), exercise)

        dirs = _workdirs(base, results[0], small_bottle)
        done: dict[str, Ran] = {}
        for command in README_COMMANDS:
            exercise = COMMANDS.get(command)
            if isinstance(exercise, Cli):
                done[command] = _run_cli(command, exercise, dirs[exercise.cwd], str(data))
        collected, cuda = collector.results()
        yield Runs({**done, **collected}, cuda, dirs)
    finally:
        collector.stop()


def _of(kind: type) -> list[str]:
    return [c for c in README_COMMANDS if isinstance(COMMANDS.get(c), kind)]


@pytest.mark.parametrize("command", _of(Pytest))
def test_the_pytest_command_resolves_and_selects_tests(command: str, ran: Runs) -> None:
    exercise = COMMANDS[command]
    assert isinstance(exercise, Pytest)
    result = ran.done[command]
    if exercise.needs_cuda and not ran.cuda:
        assert result.exit == int(pytest.ExitCode.USAGE_ERROR), result.output
        assert "CUDA is not available on this machine" in result.output, result.output
        return
    assert result.exit == 0, result.output
    assert [s for s in exercise.prints if s not in result.output] == [], result.output
    if not exercise.collect:
        return
    ids = result.ids or []
    assert ids, f"{command}: no test selected\n{result.output}"
    assert [i for i in ids if not all(s in i for s in exercise.each_id)] == [], exercise.each_id
    assert all(any(s in i for i in ids) for s in exercise.some_id), (exercise.some_id, ids[:20])
    assert not [i for i in ids if any(s in i for s in exercise.no_id)], exercise.no_id


def test_the_cuda_cases_skip_at_run_time_without_a_gpu(ran: Runs) -> None:
    if ran.cuda:
        pytest.skip("this machine has CUDA: its cases run")
    result = ran.done[RUNTIME_SKIP]
    assert result.exit == 0, result.output
    outcomes = [(o[1], "no CUDA device" in o[2]) for o in result.outcomes]
    assert outcomes == [("skipped", True)], result.output


@pytest.mark.parametrize("command", _of(Cli))
def test_the_inspectnet_command_runs(command: str, ran: Runs) -> None:
    exercise = COMMANDS[command]
    assert isinstance(exercise, Cli)
    if exercise.shell and shutil.which(shlex.split(command)[3]) is None:
        pytest.skip(f"{shlex.split(command)[3]} is not installed here")
    result = ran.done[command]
    assert result.exit == 0, result.output
    assert [s for s in exercise.prints if s not in result.output] == [], result.output
    cwd = ran.dirs[exercise.cwd]
    assert [p for p in exercise.creates if not (cwd / p).exists()] == [], result.output


@pytest.mark.parametrize("command", _of(Elsewhere))
def test_the_command_tested_elsewhere_is_still_tested_there(command: str) -> None:
    exercise = COMMANDS[command]
    assert isinstance(exercise, Elsewhere)
    text = (ROOT / exercise.test_file).read_text()
    assert [e for e in exercise.evidence if e not in text] == [], exercise.test_file


def test_init_as_written_is_run_by_the_user_project_test() -> None:
    """The one line run here without --from-current runs whole in tests/test_user_project.py."""
    text = (ROOT / "tests" / "test_user_project.py").read_text()
    assert '"init", "--model-dir", "results", "--data-root", "data", "--dataset-licence", "CC0-1.0"' in text
    assert '"--from-current"' in text
