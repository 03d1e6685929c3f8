"""Records travel, files are written once: a sink collects what tests emit; only the process that owns the
session (the xdist controller, or the one process) writes them, atomically, when the session ends.

Names are paths relative to the reports root (``eval_harness/patchcore_cable.json``,
``figures/cases_cable.png``); JSON records are dicts, figures are bytes. Emitting a name again replaces it
(a latency record grows an entry per runtime).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspectnet._io import atomic_write_bytes, atomic_write_json
from inspectnet.records import Record
from inspectnet.report import FIGURES_DIR

USER_PROPERTY = "inspectnet_records"


@dataclass
class RecordSink:
    pending: dict[str, Any] = field(default_factory=dict)

    def emit_json(self, name: str, data: dict[str, Any]) -> None:
        """Kept as plain JSON types (a str subclass such as ``torch.__version__`` would not cross to the xdist
        controller; what is carried is exactly what will be written)."""
        self.pending[name] = {"json": json.loads(json.dumps(data, default=str))}

    def emit_bytes(self, name: str, data: bytes) -> None:
        self.pending[name] = {"base64": base64.b64encode(data).decode("ascii")}

    def drain(self) -> dict[str, Any]:
        """What was emitted since the last drain, in a form pytest-xdist can carry (JSON types only)."""
        out, self.pending = self.pending, {}
        return out


@dataclass(frozen=True)
class Publisher:
    """What a test hands to the reporting plugin: records for ``report_dir``, figures for the reports root's
    ``figures/``. Nothing is written here; the plugin writes at session end."""

    report_dir: Path
    sink: RecordSink

    def emit(self, file: str, record: Record) -> Path:
        """``record`` as ``report_dir/file``; returns the path it will have."""
        self.sink.emit_json(f"{self.report_dir.name}/{file}", record.to_json())
        return self.report_dir / file

    def emit_figure(self, file: str, data: bytes) -> Path:
        """A PNG made in the session (from predictions) as ``<report_dir>/../figures/file``."""
        self.sink.emit_bytes(f"{FIGURES_DIR}/{file}", data)
        return self.report_dir.parent / FIGURES_DIR / file


@dataclass
class Collected:
    """The writing side: every record that arrived, the latest per name."""

    items: dict[str, Any] = field(default_factory=dict)

    def add(self, drained: dict[str, Any]) -> None:
        self.items.update(drained)

    def write(self, root: Path) -> list[Path]:
        written = []
        for name in sorted(self.items):
            path = root / name
            item = self.items[name]
            if "json" in item:
                atomic_write_json(path, item["json"])
            else:
                atomic_write_bytes(path, base64.b64decode(item["base64"]))
            written.append(path)
        return written
