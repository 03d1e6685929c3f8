"""JSON to frozen dataclasses and back, by the dataclasses' own type hints: the one path every record takes.

``decode(cls, data)`` checks every field (names exact: none missing, none extra; values of the declared
type, nested dataclasses, ``list``, ``tuple``, ``dict[str, T]`` and unions included) and raises
``DecodeError`` naming the field path of the first mismatch. ``encode`` is its inverse: tuples become lists,
and a field declared with ``metadata=OMITTED_WHEN_NONE`` is left out while it is None (so a block that only some records
have does not appear as ``null`` in the others).

An ``int`` is accepted where a ``float`` is declared and kept as it is, so a record read and written again
has the same bytes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, TypeVar, Union

T = TypeVar("T")
OMIT = "omit_when_none"


class DecodeError(ValueError):
    """Data that does not match a dataclass; the message names the field path."""


OMITTED_WHEN_NONE = types.MappingProxyType({OMIT: True})  # field metadata: left out of the JSON while None


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _fail(where: str, tp: Any, value: object) -> DecodeError:
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DecodeError(f"{where or 'record'}: expected {_name(tp)}, got {shown}")


def decode(tp: Any, value: object, where: str = "") -> Any:
    """``value`` (parsed JSON) as type ``tp``; DecodeError naming the field path when it does not fit."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _decode_dataclass(tp, value, where)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in (a for a in args if a is not type(None)):
            try:
                return decode(arm, value, where)
            except DecodeError:
                continue
        raise _fail(where, tp, value)
    if origin is list:
        if not isinstance(value, list):
            raise _fail(where, tp, value)
        return [decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(where, tp, value)
        return tuple(decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _fail(where, tp, value)
        return {k: decode(args[1], v, f"{where}.{k}" if where else k) for k, v in value.items()}
    return _decode_scalar(tp, value, where)


def _decode_scalar(tp: Any, value: object, where: str) -> object:
    if tp is type(None) or tp is None:
        if value is None:
            return None
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp in (str, bool):
        if isinstance(value, tp):
            return value
    else:
        raise DecodeError(f"{where}: type {_name(tp)} is not supported by typed_json")
    raise _fail(where, tp, value)


def _decode_dataclass(cls: type[T], value: object, where: str) -> T:
    if not isinstance(value, dict):
        raise _fail(where, cls, value)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    extra = sorted(set(value) - set(fields))
    missing = sorted(
        name
        for name, f in fields.items()
        if name not in value and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    if extra or missing:
        parts = [f"unknown {', '.join(extra)}"] * bool(extra) + [f"missing {', '.join(missing)}"] * bool(missing)
        prefix = f"{where}: " if where else ""
        raise DecodeError(f"{prefix}fields do not match {cls.__name__} ({'; '.join(parts)})")
    hints = _hints(typing.cast(type, cls))
    kwargs = {k: decode(hints[k], v, f"{where}.{k}" if where else k) for k, v in value.items()}
    return cls(**kwargs)


def encode(value: object) -> Any:
    """A dataclass (or a structure of them) as plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and f.metadata.get(OMIT):
                continue
            out[f.name] = encode(item)
        return out
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value
