"""The files ``inspectnet init`` writes besides the project file: pytest's configuration and a GitHub Actions
workflow.

pytest's configuration is written only where the project has none (``pytest.ini``); where it has one, the
lines to add are printed in that file's own syntax instead, so nothing of the project's is rewritten. The
workflow splits the accuracy and parity suites by category (one CI job per category of the plan), merges
the shards' records, renders the card and gates it against the committed baseline; latency runs as its own
job on the runner its budget is for. The CI system is the distributed engine: InspectNet only splits and
merges.
"""

from __future__ import annotations

import builtins
import json
import re
import shlex
import sys
import tomllib
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PYTEST_INI = "pytest.ini"
WORKFLOW = Path(".github", "workflows", "inspectnet.yml")
REQUIREMENTS = "requirements.txt"
# anomalib and timm deprecation notices that InspectNet's own imports trigger (this repository's pytest.ini)
FILTERWARNINGS = (
    "ignore:Importing from timm.models.layers is deprecated:FutureWarning",
    "ignore:The anomalib.models.components.dinov2 package is deprecated:FutureWarning",
    "ignore:Argument embeddings is deprecated:DeprecationWarning",
)


def ignore_known_warnings() -> None:
    """Silence ``FILTERWARNINGS`` here too (call it inside ``warnings.catch_warnings()``): ``inspectnet init``
    imports anomalib as the test run does."""
    for line in FILTERWARNINGS:
        action, message, category = line.split(":")
        warnings.filterwarnings(action, re.escape(message), getattr(builtins, category))  # type: ignore[arg-type]


@dataclass(frozen=True)
class PytestConfig:
    """Where a project keeps its pytest configuration, and the syntax of that file."""

    path: Path
    table: str  # the section or table that holds it: [pytest], [tool:pytest], [tool.pytest.ini_options], ...
    toml: bool  # values are TOML (lists) rather than INI text

    def advice(self, testpaths: tuple[str, ...]) -> str:
        """What to add to this file (several lines: the table, testpaths and filterwarnings)."""
        if self.toml:
            paths = ", ".join(json.dumps(p) for p in testpaths)
            warnings = "".join(f"    {json.dumps(w)},\n" for w in FILTERWARNINGS)
            body = f"testpaths = [{paths}]\nfilterwarnings = [\n{warnings}]\n"
        else:
            body = f"testpaths = {' '.join(testpaths)}\nfilterwarnings =\n" + "".join(
                f"    {w}\n" for w in FILTERWARNINGS
            )
        return (
            f"{self.path} already configures pytest; add to its {self.table} (keeping what it has: add "
            f"inspectnet.toml to an existing testpaths, these lines to an existing filterwarnings):\n{self.table}\n"
            f"{body}"
        )


def _has_section(path: Path, section: str) -> bool:
    """An INI file has ``[section]`` (pytest reads it from there)."""
    pattern = re.compile(rf"^\s*\[{re.escape(section)}\]\s*(?:[#;].*)?$")
    text = path.read_text(encoding="utf-8", errors="replace")
    return any(pattern.match(line) for line in text.splitlines())


def find_pytest_config(project: Path) -> PytestConfig | None:
    """The project's pytest configuration in ``project`` itself, in pytest's own order of precedence
    (pytest.toml, .pytest.toml, pytest.ini, .pytest.ini, pyproject.toml's [tool.pytest] tables, tox.ini's
    [pytest], setup.cfg's [tool:pytest]); None where it has none."""
    for name in ("pytest.toml", ".pytest.toml"):
        if (project / name).is_file():
            return PytestConfig(project / name, "[pytest]", toml=True)
    for name in ("pytest.ini", ".pytest.ini"):
        if (project / name).is_file():
            return PytestConfig(project / name, "[pytest]", toml=False)
    pyproject = project / "pyproject.toml"
    if pyproject.is_file():
        try:
            tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            tool = {}
        table = tool.get("pytest") if isinstance(tool, dict) else None
        if isinstance(table, dict):
            ini = "ini_options" in table
            return PytestConfig(pyproject, "[tool.pytest.ini_options]" if ini else "[tool.pytest]", toml=True)
    if (project / "tox.ini").is_file() and _has_section(project / "tox.ini", "pytest"):
        return PytestConfig(project / "tox.ini", "[pytest]", toml=False)
    if (project / "setup.cfg").is_file() and _has_section(project / "setup.cfg", "tool:pytest"):
        return PytestConfig(project / "setup.cfg", "[tool:pytest]", toml=False)
    return None


def testpaths(project: Path) -> tuple[str, ...]:
    """What bare ``pytest`` collects: the project file, and the project's own ``tests`` where it has one."""
    return ("inspectnet.toml", "tests") if (project / "tests").is_dir() else ("inspectnet.toml",)


def pytest_ini(project: Path) -> str:
    """A ``pytest.ini`` for a project without pytest configuration."""
    warnings = "".join(f"    {w}\n" for w in FILTERWARNINGS)
    return (
        "# Written by `inspectnet init`. pytest collects inspectnet.toml as InspectNet's acceptance suites\n"
        '# (`pytest inspectnet.toml -m "accuracy or parity"`); bare `pytest` also runs the project\'s own tests.\n'
        "[pytest]\n"
        f"testpaths = {' '.join(testpaths(project))}\n"
        "# deprecation notices that anomalib's and timm's own imports raise, not the project's\n"
        f"filterwarnings =\n{warnings}"
    )


def _inspectnet_requirement() -> str:
    """``inspectnet==<this version>``: CI judges with the InspectNet that wrote the criteria."""
    try:
        return f"inspectnet=={version('inspectnet')}"
    except PackageNotFoundError:
        return "inspectnet"


def workflow(project: Path, categories: tuple[str, ...], baseline: str, latency_runner: str) -> str:
    """The GitHub Actions workflow: accuracy and parity sharded by category, the gate over the merged shards,
    and latency on ``latency_runner``."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    install = ["python -m pip install --upgrade pip"]
    if (project / REQUIREMENTS).is_file():
        install.append(f"pip install -r {REQUIREMENTS}")
    install.append(f'pip install "{_inspectnet_requirement()}"')
    install_lines = "".join(f"          {line}\n" for line in install)
    setup = (
        "      - uses: actions/checkout@v4\n"
        "      - uses: actions/setup-python@v5\n"
        "        with:\n"
        f'          python-version: "{python}"\n'
        "      - name: Install\n"
        "        run: |\n"
        f"{install_lines}"
    )
    matrix = ", ".join(json.dumps(c) for c in categories)
    base = shlex.quote(baseline)
    no_baseline = shlex.quote(f"no baseline at {baseline}: commit a merged report set there to gate against it")
    shard = "shards/${{ matrix.category }}"
    return (
        "# Written by `inspectnet init`: the acceptance criteria of inspectnet.toml in CI.\n"
        "# The accuracy and parity suites run as one job per category (the matrix below; CI is the distributed\n"
        "# engine, InspectNet only splits by category and merges); the gate job merges the shards' records,\n"
        "# renders the model card and compares the records with the committed baseline; latency runs on its own\n"
        "# runner, the machine class its budget is for. The data root and the checkpoints that inspectnet.toml's\n"
        "# [run] table names must be in the checkout, or fetched by a step before pytest.\n"
        "name: inspectnet\n"
        "\n"
        "on:\n"
        "  push:\n"
        "  pull_request:\n"
        "\n"
        "jobs:\n"
        "  accuracy:\n"
        "    name: accuracy and parity (${{ matrix.category }})\n"
        "    runs-on: ubuntu-latest\n"
        "    strategy:\n"
        "      fail-fast: false\n"
        "      matrix:\n"
        f"        category: [{matrix}]\n"
        "    steps:\n"
        f"{setup}"
        "      - name: Accuracy and parity of ${{ matrix.category }}\n"
        '        run: pytest inspectnet.toml -m "accuracy or parity" --inspectnet-category ${{ matrix.category }} '
        f"--inspectnet-report-dir {shard}/eval_harness\n"
        "      - name: Keep the shard's records (a failed criterion is a result too)\n"
        "        if: ${{ !cancelled() }}\n"
        "        uses: actions/upload-artifact@v4\n"
        "        with:\n"
        "          name: shard-${{ matrix.category }}\n"
        f"          path: {shard}\n"
        "\n"
        "  gate:\n"
        "    needs: accuracy\n"
        "    if: ${{ !cancelled() }}\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        f"{setup}"
        "      - uses: actions/download-artifact@v4\n"
        "        with:\n"
        "          pattern: shard-*\n"
        "          path: shards\n"
        "      - name: Merge the shards\n"
        "        run: inspectnet report merge --out merged shards/*\n"
        "      - name: Model card\n"
        "        run: inspectnet card --reports merged\n"
        "      - uses: actions/upload-artifact@v4\n"
        "        with:\n"
        "          name: model-card\n"
        "          path: merged\n"
        "      - name: Gate against the baseline\n"
        "        run: |\n"
        f"          if [ -d {base} ]; then\n"
        f"            inspectnet gate --baseline {base} --current merged --criteria inspectnet.toml\n"
        "          else\n"
        f"            echo {no_baseline}\n"
        "          fi\n"
        "\n"
        "  latency:\n"
        f"    runs-on: {json.dumps(latency_runner)}\n"
        "    steps:\n"
        f"{setup}"
        "      - name: Latency\n"
        "        run: pytest inspectnet.toml -m latency --inspectnet-report-dir out/latency/eval_harness\n"
        "      - name: Keep the latency records (`inspectnet budget --from out/latency` writes this runner's budget)\n"
        "        if: ${{ !cancelled() }}\n"
        "        uses: actions/upload-artifact@v4\n"
        "        with:\n"
        "          name: latency\n"
        "          path: out/latency\n"
    )
