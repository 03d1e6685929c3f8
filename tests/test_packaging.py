"""What a user installs: the wheel holds every module, the packaged suites, the criteria profiles, the dataset
manifest and the pytest11 entry point; its dependencies are ranges, not pins; and constraints.txt pins the
tested version of each, inside its range.

The wheel is built once, offline (no index, no build isolation: the venv's setuptools), from a copy of the
package's files, so that no build/ directory is written into (or read stale from) the working tree.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# the suites pytest collects from a project's inspectnet.toml, the data files the package reads at run time
SUITES = ("__init__.py", "accuracy.py", "parity.py", "latency.py", "candidates.py")
DATA_FILES = (
    "inspectnet/py.typed",
    "inspectnet/criteria/synthetic.toml",
    "inspectnet/criteria/mvtec_ad.toml",
    "inspectnet/data/seed0_manifest.json",
)
UPPER = {"<", "<=", "~="}


def requirements(extra: str | None = None) -> list[Requirement]:
    project = PYPROJECT["project"]
    texts = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def constraints() -> dict[str, str]:
    """constraints.txt as {canonical name: pinned version}; a line that is not ``name==version`` fails."""
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"constraints.txt: {line!r} is not name==version"
        pins[canonicalize_name(name.strip())] = version.strip()
    return pins


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    src = tmp_path_factory.mktemp("src")
    for path in ROOT.iterdir():  # pyproject.toml, README.md (the long description) and any other top-level file
        if path.is_file():
            shutil.copy2(path, src / path.name)
    shutil.copytree(ROOT / "inspectnet", src / "inspectnet", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    done = subprocess.run(
        [*command, "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("inspectnet-*.whl")
    with zipfile.ZipFile(built) as archive:
        assert archive.testzip() is None
        yield archive


def dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}") and n.count("/") == 1]
    return wheel.read(path).decode()


def test_the_wheel_holds_every_module_and_nothing_else_at_the_top(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    modules = (ROOT / "inspectnet").rglob("*.py")
    source = {p.relative_to(ROOT).as_posix() for p in modules if "__pycache__" not in p.parts}
    assert source - names == set()  # a directory without __init__.py is not found as a package
    version = PYPROJECT["project"]["version"]
    assert {n.split("/", 1)[0] for n in names} == {"inspectnet", f"inspectnet-{version}.dist-info"}


def test_the_wheel_holds_the_packaged_suites(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    missing = [f"inspectnet/suite/{module}" for module in SUITES if f"inspectnet/suite/{module}" not in names]
    assert missing == [], f"not in the wheel: {missing}"


def test_the_wheel_holds_the_criteria_profiles_the_manifest_and_py_typed(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert [path for path in DATA_FILES if path not in names] == []
    for path in DATA_FILES:
        assert wheel.read(path) == (ROOT / path).read_bytes(), path


def test_the_wheel_registers_the_pytest_plugin_and_the_console_script(wheel: zipfile.ZipFile) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(dist_info(wheel, "entry_points.txt"))
    assert dict(entry_points["pytest11"]) == {"inspectnet": "inspectnet.plugin"}
    assert entry_points["console_scripts"]["inspectnet"] == "inspectnet.cli:main"


def test_the_wheel_requires_ranges_not_pins(wheel: zipfile.ZipFile) -> None:
    metadata = Parser().parsestr(dist_info(wheel, "METADATA"))
    required = [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]
    runtime = [r for r in required if r.marker is None]
    assert {canonicalize_name(r.name) for r in runtime} == {canonicalize_name(r.name) for r in requirements()}
    pinned = [str(r) for r in required if any(s.operator in ("==", "===") for s in r.specifier)]
    assert pinned == []


@pytest.mark.parametrize("extra", [None, "dev"])
def test_every_dependency_is_a_range_with_an_upper_bound(extra: str | None) -> None:
    for requirement in requirements(extra):
        operators = {s.operator for s in requirement.specifier}
        assert not operators & {"==", "==="}, f"{requirement} is a pin: constraints.txt holds pins"
        assert ">=" in operators or "~=" in operators, f"{requirement} has no lower bound (the version tested)"
        assert operators & UPPER, f"{requirement} has no upper bound (the next release that may break it)"


@pytest.mark.parametrize("extra", [None, "dev"])
def test_constraints_pin_every_dependency_inside_its_range(extra: str | None) -> None:
    pins = constraints()
    for requirement in requirements(extra):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"constraints.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pins[name]}, outside {requirement.specifier}"
        )


def test_constraints_leave_out_the_package_itself() -> None:
    assert "inspectnet" not in constraints()
