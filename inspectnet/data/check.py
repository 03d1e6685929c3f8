"""Whole-dataset validation and its summary record (``inspectnet data check``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from inspectnet._io import sha256_file
from inspectnet.data.layout import Category, CategorySummary, DataError, find_categories, inspect_category
from inspectnet.data.synthetic import read_manifest


@dataclass(frozen=True)
class CheckResult:
    root: Path
    summaries: tuple[CategorySummary, ...]
    errors: tuple[str, ...]
    fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        """``synthetic`` for the embedded set (it has a generator manifest), else ``mvtec-layout``."""
        return "synthetic" if read_manifest(self.root) is not None else "mvtec-layout"


def fingerprint(category: Category) -> str:
    """sha256 over the relative path and content of every file the category's reader uses."""
    digest = hashlib.sha256()
    files = list(category.train)
    for sample in category.test:
        files.append(sample.path)
        if sample.mask is not None:
            files.append(sample.mask)
    for path in sorted(files):
        digest.update(path.relative_to(category.root).as_posix().encode() + b"\0")
        digest.update(bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()


def check_dataset(root: Path, categories: list[str] | None = None) -> CheckResult:
    """Validate every requested (default: every discovered) category; collect all problems."""
    errors: list[str] = []
    summaries: list[CategorySummary] = []
    fingerprints: dict[str, str] = {}
    try:
        names = categories or find_categories(root)
    except DataError as exc:
        return CheckResult(root, (), (str(exc),))
    for name in names:
        try:
            cat, problems = inspect_category(root, name)
        except DataError as exc:
            errors.append(str(exc))
            continue
        errors.extend(problems)
        if not problems:
            summaries.append(cat.summary())
            fingerprints[name] = fingerprint(cat)
    return CheckResult(root, tuple(summaries), tuple(errors), fingerprints)


def format_summary(result: CheckResult) -> str:
    lines = [
        f"{result.root}: {len(result.summaries)} categories, all valid ({result.dataset})",
        f"{'category':<14}{'train':>6}{'test good':>11}{'test defect':>13}  by type",
    ]
    for s in result.summaries:
        by_type = ", ".join(f"{k} {v}" for k, v in s.test_defect.items())
        lines.append(f"{s.category:<14}{s.train_good:>6}{s.test_good:>11}{s.test_defect_total:>13}  {by_type}")
    return "\n".join(lines)


def manifest_identity(root: Path) -> dict[str, object] | None:
    manifest = read_manifest(root)
    if manifest is None:
        return None
    return {k: manifest[k] for k in ("generator", "generator_version", "seed", "image_size")}
