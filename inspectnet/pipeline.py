"""The commands ``make run`` runs, in order: the one list that the Makefile executes (``python -m
inspectnet.pipeline``) and the card's Reproduction section prints, so the two cannot drift apart.

A data step that fails stops the run at once (without data nothing is measured). A failed criterion does not:
every pytest session runs, the card is rendered from whatever records they wrote (its Criteria section names
what failed), and then the run exits with the first non-zero status.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DATA = "data/synthetic"
REPORTS = "reports"


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...]
    why: str
    stops_the_run: bool  # a failure here ends the run at once

    def shell(self) -> str:
        return shlex.join(self.argv)


def steps(data: str = DATA, reports: str = REPORTS, sizes: str = "embedded") -> list[Step]:
    """``make run``'s steps; ``sizes`` other than the embedded set's (``mvtec``) is the whole-card benchmark's
    real-size run (the same steps on the same generator, at MVTec AD's split sizes)."""
    records = f"{reports}/eval_harness"
    synth = ("inspectnet", "data", "synth", "--out", data) + (("--sizes", sizes) if sizes != "embedded" else ())
    return [
        Step(("rm", "-f", f"{records}/criteria.json"), "start the criteria record afresh", True),
        Step(synth, "write the embedded dataset", True),
        Step(
            ("inspectnet", "data", "check", data, "--report", f"{records}/dataset_synthetic.json"),
            "validate it, record its counts and fingerprints",
            True,
        ),
        Step(
            (
                "pytest",
                "tests/acceptance",
                "parity",
                "candidates",
                "-m",
                "accuracy or parity or candidates",
                "--report-dir",
                records,
            ),
            "accuracy, parity and deployment candidates",
            False,
        ),
        Step(("pytest", "benchmarks", "--device", "cpu", "--report-dir", records), "latency on the CPU", False),
        Step(("inspectnet", "card", "--reports", reports), "the card, PROVENANCE.md, figures, checksums", False),
    ]


def _executable(name: str, bin_dir: Path) -> str:
    """``pytest`` and ``inspectnet`` from the environment's bin directory, any other command from PATH."""
    beside = bin_dir / name
    return str(beside) if beside.is_file() else name


def run(plan: list[Step], bin_dir: Path | None = None) -> int:
    """Run ``plan`` with the commands of ``bin_dir`` (default: this Python's, the venv's); the exit status."""
    where = bin_dir if bin_dir is not None else Path(sys.executable).parent
    status = 0
    for step in plan:
        print(f"make run: {step.shell()}", flush=True)
        code = subprocess.call([_executable(step.argv[0], where), *step.argv[1:]])
        if code and step.stops_the_run:
            return code
        status = status or code
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inspectnet.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DATA, help=f"where the embedded dataset is written (default: {DATA})")
    parser.add_argument("--reports", default=REPORTS, help=f"the reports root (default: {REPORTS})")
    parser.add_argument(
        "--sizes", choices=("embedded", "mvtec"), default="embedded", help="the dataset's split sizes (data synth)"
    )
    args = parser.parse_args(argv)
    status = run(steps(args.data, args.reports, args.sizes))
    if status:
        print(f"make run: exit {status}; see the Criteria section of {args.reports}/MODEL_CARD.md", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
