"""The records' JSON shape, derived from the dataclasses, and the committed fingerprint it is held to.

``shape(cls)`` walks a dataclass's declared fields recursively: each field's name (in declared order), its
JSON type (nested blocks expanded; tuples are JSON lists), whether a file may lack it (it has a default) and
whether it is left out while None. ``fingerprint()`` is every record kind's shape with ``SCHEMA_VERSION``;
``tests/test_schema.py`` fails when it differs from the committed ``tests/fixtures/schema.json`` while
``SCHEMA_VERSION`` is unchanged. After a deliberate schema change: bump ``SCHEMA_VERSION``, then regenerate
with ``python -m inspectnet.records.schema --write``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from inspectnet._io import atomic_write_text
from inspectnet.records import KINDS, SCHEMA_VERSION, Record
from inspectnet.typed_json import OMIT

COMMITTED = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "schema.json"
COMMAND = "python -m inspectnet.records.schema --write"
SCALARS: dict[object, str] = {str: "str", int: "int", float: "float", bool: "bool", type(None): "null"}


def type_shape(tp: Any) -> Any:
    """The JSON shape of a declared type: a scalar's name, or {"fields" | "list" | "map" | "any_of": ...}."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return {"fields": shape(tp)}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return {"any_of": [type_shape(arm) for arm in args]}
    if origin in (list, tuple):
        return {"list": type_shape(args[0])}
    if origin is dict:
        return {"map": type_shape(args[1])}
    if tp in SCALARS:
        return SCALARS[tp]
    raise TypeError(f"{tp!r}: not a type a record can hold")


def shape(cls: type) -> dict[str, Any]:
    """Each field of the dataclass ``cls`` in declared order: its type, and how a file may go without it."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        entry: dict[str, Any] = {"type": type_shape(hints[f.name])}
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            entry["optional"] = True
        if f.metadata.get(OMIT):
            entry["omitted_when_none"] = True
        out[f.name] = entry
    return out


def fingerprint(kinds: Mapping[str, type[Record]] = KINDS) -> dict[str, Any]:
    """``SCHEMA_VERSION`` and every record kind's shape, by kind."""
    return {"schema_version": SCHEMA_VERSION, "kinds": {kind: shape(kinds[kind]) for kind in sorted(kinds)}}


def text(value: Mapping[str, Any]) -> str:
    return json.dumps(value, indent=1) + "\n"


def differences(old: Any, new: Any, where: str = "") -> list[str]:
    """What changed from the shape ``old`` to ``new``, one line per place, named by its field path."""
    if old == new:
        return []
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [f"{where}: {_short(old)} -> {_short(new)}"]
    out = [f"{_at(where, k)}: removed" for k in old if k not in new]
    out += [f"{_at(where, k)}: added {_short(new[k])}" for k in new if k not in old]
    common = [k for k in old if k in new]
    if common != [k for k in new if k in old]:
        out.append(f"{where or 'kinds'}: fields reordered")
    for k in common:
        out += differences(old[k], new[k], _at(where, k))
    return out


def _at(where: str, key: str) -> str:
    if key in ("kinds", "type", "fields"):  # structure, not a field
        return where
    if key in ("list", "map"):
        return f"{where}[]" if key == "list" else f"{where}{{}}"
    if key in ("optional", "omitted_when_none", "any_of"):
        return f"{where} ({key})"
    return f"{where}.{key}" if where else key


def _short(value: Any) -> str:
    shown = json.dumps(value, separators=(",", ":"))
    return shown if len(shown) <= 100 else shown[:97] + "..."


def check(committed: Mapping[str, Any], derived: Mapping[str, Any]) -> str | None:
    """None when ``derived`` may stand beside ``committed``; else what is wrong and what to do."""
    if committed == derived:
        return None
    version, before = derived.get("schema_version"), committed.get("schema_version")
    if version != before:
        return f"SCHEMA_VERSION is {version}, the committed fingerprint's {before}: regenerate with {COMMAND}"
    changed = "\n  ".join(differences(committed.get("kinds"), derived.get("kinds")))
    return (
        f"the records' JSON shape changed while SCHEMA_VERSION stayed {version}:\n  {changed}\n"
        f"bump SCHEMA_VERSION (inspectnet/records/base.py) and regenerate with {COMMAND}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inspectnet.records.schema", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write the fingerprint to {COMMITTED.name}")
    parser.add_argument("--path", type=Path, default=COMMITTED)
    args = parser.parse_args(argv)
    derived = fingerprint()
    if args.write:
        atomic_write_text(args.path, text(derived))
        print(f"wrote {args.path}")
        return 0
    problem = check(json.loads(args.path.read_text()), derived)
    print(problem or f"{args.path}: up to date")
    return 1 if problem else 0


if __name__ == "__main__":
    raise SystemExit(main())
