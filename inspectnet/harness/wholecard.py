"""The whole card, timed: ``make run``'s steps (``inspectnet.pipeline``) on a clean checkout of each revision
asked for, each with an empty store, the same interpreter and packages, one after the other on this machine.

    python -m inspectnet.harness.wholecard --sizes mvtec --out reports/eval_harness/whole_card_mvtec.json
    python -m inspectnet.harness.wholecard --rev OLD --rev HEAD --out reports/eval_harness/whole_card_embedded.json

Each revision is checked out with ``git worktree`` under ``--work`` (its package imported from there:
``PYTHONPATH``), and its pipeline runs there: data, accuracy, parity, candidates, latency, card. Every pytest
process writes its ledger (``inspectnet.ledger``: each second booked to a suite and phase, memory per category
segment) into the run's folder; steps without one are timed from the pipeline's own step lines. Two revisions
are compared number for number: every accuracy, parity and candidate record both wrote.

Plain Python; its record is ``records.WholeCardRecord``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from inspectnet.builders import whole_card_record
from inspectnet.data.synthetic import SIZES
from inspectnet.ledger import ENV
from inspectnet.records import CardRun, MemorySegment, PhaseTime, StepTime, write_record

STEP_LINE = "make run: "  # how the pipeline announces each step (``inspectnet.pipeline.run``)
COMPARED = {  # per record kind, the fields whose numbers must not move between two revisions
    "evaluation": ("metrics",),
    "parity": ("max_abs_error", "label_flips", "mask_pixel_flips", "reference_fp32_error", "status"),
    "candidate": ("metrics", "label_agreement", "mask_iou", "status"),
    "thresholds": ("thresholds",),
}


class BenchError(Exception):
    """A revision that cannot be checked out, or a run that cannot be read; one line."""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def checkout(repo: Path, rev: str, where: Path) -> str:
    """A detached worktree of ``rev`` at ``where`` (replaced); the full commit."""
    commit = _git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")
    _git(repo, "worktree", "prune")  # an interrupted run's checkout, deleted since, would confuse git later
    if where.exists():
        _git(repo, "worktree", "remove", "--force", str(where))
    _git(repo, "worktree", "add", "--detach", str(where), commit)
    return commit


def run_pipeline(tree: Path, sizes: str, ledgers: Path, log: Path) -> tuple[float, int, list[tuple[str, float]]]:
    """The pipeline in ``tree`` (its own package first on the path); wall seconds, exit status, and each
    step's command with its wall seconds (from one step line to the next, the last to the exit)."""
    ledgers.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, ENV: str(ledgers), "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-m", "inspectnet.pipeline"] + (["--sizes", sizes] if sizes != "embedded" else [])
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if line.startswith(STEP_LINE) and not line.startswith(f"{STEP_LINE}exit "):  # not its closing line
                marks.append((line[len(STEP_LINE) :].strip(), time.perf_counter()))
        status = process.wait()
    ended = time.perf_counter()
    bounds = [t for _, t in marks[1:]] + [ended]
    return ended - started, status, [(cmd, end - t) for (cmd, t), end in zip(marks, bounds, strict=True)]


def _ledgers(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _matches(command: str, account: dict[str, Any]) -> bool:
    """Whether the process whose ledger is ``account`` ran the step ``command`` (as the pipeline prints it)."""
    argv, words = [str(a) for a in account.get("argv", [])], shlex.split(command)
    return bool(argv) and words[1:] == argv[1:] and Path(argv[0]).name == words[0]


def card_run(commit: str, wall: float, status: int, steps: list[tuple[str, float]], folder: Path) -> CardRun:
    """One revision's run: each step's phases from its process's ledger (when it wrote one), memory by segment."""
    accounts = _ledgers(folder)
    timed: list[StepTime] = []
    segments: list[MemorySegment] = []
    for command, seconds in steps:
        account = next((a for a in accounts if _matches(command, a)), None)
        if account is None:
            timed.append(StepTime(command, round(seconds, 2), [], 0.0))
            continue
        phases = [
            PhaseTime(name, round(spent, 2), int(account["calls"].get(name, 0)))
            for name, spent in sorted(account["seconds"].items(), key=lambda kv: -kv[1])
        ]
        unbooked = max(0.0, seconds - float(account["wall_s"]))
        timed.append(StepTime(command, round(seconds, 2), phases, round(unbooked, 2)))
        segments += [
            MemorySegment(command, s["suite"], s["category"], s["tests"], s["start_mib"], s["peak_mib"])
            for s in account["segments"]
        ]
    per_category: dict[str, int] = {}
    for s in segments:
        if s.category:
            per_category[s.category] = max(per_category.get(s.category, 0), s.peak_mib)
    peak = max([s.peak_mib for s in segments] + [int(a.get("peak_mib", 0)) for a in accounts] + [0])
    return CardRun(commit, round(wall, 2), status, timed, segments, peak, dict(sorted(per_category.items())))


def compare_records(old: Path, new: Path) -> tuple[int, list[str]]:
    """How many records both runs wrote of the compared kinds, and each number that differs (file: field)."""
    compared, differences = 0, []
    for path in sorted(new.glob("*.json")):
        other = old / path.name
        if not other.is_file():
            continue
        a, b = json.loads(other.read_text()), json.loads(path.read_text())
        fields = COMPARED.get(str(b.get("kind")), ())
        if not fields or a.get("kind") != b.get("kind"):
            continue
        compared += 1
        differences += [f"{path.name}: {f}" for f in fields if a.get(f) != b.get(f)]
    return compared, differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inspectnet.harness.wholecard", description=__doc__.split("\n")[0])
    parser.add_argument("--rev", action="append", help="a revision to run (repeatable, older first; default HEAD)")
    parser.add_argument("--sizes", choices=sorted(SIZES), default="embedded", help="the dataset's split sizes")
    parser.add_argument("--work", type=Path, default=Path(".inspectnet/wholecard"), help="checkouts and logs")
    parser.add_argument("--out", type=Path, required=True, help="the record to write (JSON)")
    parser.add_argument("--keep", action="store_true", help="keep the checkouts (stores, data, reports) afterwards")
    args = parser.parse_args(argv)
    try:
        repo = Path(_git(Path.cwd(), "rev-parse", "--show-toplevel"))
    except BenchError as exc:
        print(f"wholecard: run it inside the repository's clone ({exc})", file=sys.stderr)
        return 2
    runs: list[CardRun] = []
    trees: list[Path] = []
    try:
        for i, rev in enumerate(args.rev or ["HEAD"]):
            tree = (args.work / f"run{i}").resolve()
            commit = checkout(repo, rev, tree)
            trees.append(tree)
            for stale in (tree / "reports" / "eval_harness").glob("*.json"):  # the card is this run's alone
                stale.unlink()
            print(f"wholecard: {rev} ({commit[:10]}) in {tree}", flush=True)
            ledgers = tree.parent / f"ledgers{i}"
            shutil.rmtree(ledgers, ignore_errors=True)
            wall, status, steps = run_pipeline(tree, args.sizes, ledgers, tree.parent / f"run{i}.log")
            runs.append(card_run(commit, wall, status, steps, ledgers))
            print(f"wholecard: {rev} took {wall:.0f} s, exit {status}", flush=True)
        records = [t / "reports" / "eval_harness" for t in trees]
        compared, differences = compare_records(records[0], records[-1]) if len(records) > 1 else (0, [])
    except BenchError as exc:
        print(f"wholecard: {exc}", file=sys.stderr)
        return 2
    finally:
        for i, tree in enumerate(trees):  # each run's records stay beside its ledgers and log
            if (tree / "reports").is_dir():
                shutil.rmtree(tree.parent / f"reports{i}", ignore_errors=True)
                shutil.copytree(tree / "reports", tree.parent / f"reports{i}")
        if not args.keep:
            for tree in trees:
                subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False)
                shutil.rmtree(tree, ignore_errors=True)
    split = {c: [s.train, s.test_good, s.defective] for c, s in SIZES[args.sizes].items()}
    record = whole_card_record(
        sizes=args.sizes, split_sizes=split, runs=runs, compared=compared, differences=differences
    )
    write_record(args.out, record)
    print(f"wholecard: wrote {args.out}")
    return 0 if all(r.exit_status == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
