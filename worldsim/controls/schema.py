"""Control packet schemas and their validation (cheap: the worker checks every packet).

A schema is a msgpack-able dict describing one control kind's part of a packet:

    {"doc": "...", "fields": {"c2w": {"type": "float", "shape": [16], "doc": "..."},
                              "keys": {"type": "str", "shape": [-1], "enum": [...]}}}

`type` is float | int | str | bool; `shape` [] is a scalar, [n] a list of exactly n, [-1] a list
of any length (at most `max_len`, default 64). Floats must be finite (ints are accepted as floats).
Every field is required; unknown fields are errors.
"""
from __future__ import annotations

import math

_TYPES = {"float": (float, int), "int": (int,), "str": (str,), "bool": (bool,)}


class ControlError(ValueError):
    """A control packet, schema or plugin breaks the control contract."""


def check_schema(kind: str, schema: object) -> None:
    """Raise ControlError if `schema` is not a well-formed packet schema."""
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), dict) or not schema["fields"]:
        raise ControlError(f"control {kind!r}: schema must be a dict with a non-empty 'fields' table")
    for name, spec in schema["fields"].items():
        if not isinstance(spec, dict) or spec.get("type") not in _TYPES:
            raise ControlError(f"control {kind!r}: field {name!r} needs 'type' in {sorted(_TYPES)}")
        shape = spec.get("shape", [])
        if not isinstance(shape, list) or len(shape) > 1 or any(not isinstance(n, int) or n < -1 or n == 0
                                                                 for n in shape):
            raise ControlError(f"control {kind!r}: field {name!r} shape must be [], [n] or [-1], got {shape!r}")


def _value(kind: str, name: str, x: object, ftype: str, spec: dict) -> None:
    if type(x) not in _TYPES[ftype] or (ftype != "bool" and type(x) is bool):
        raise ControlError(f"packet[{kind!r}][{name!r}]: expected {ftype}, got {type(x).__name__} {x!r}")
    if ftype == "float" and not math.isfinite(x):
        raise ControlError(f"packet[{kind!r}][{name!r}]: {x} is not finite")
    if "enum" in spec and x not in spec["enum"]:
        raise ControlError(f"packet[{kind!r}][{name!r}]: {x!r} is not one of {spec['enum']}")


def validate_part(kind: str, part: object, schema: dict) -> None:
    """Check one kind's part of a packet against its schema."""
    if type(part) is not dict:
        raise ControlError(f"packet[{kind!r}] must be a dict, got {type(part).__name__}")
    fields = schema["fields"]
    if not all(type(name) is str for name in part):    # bytes keys (msgpack bin) cannot be sorted with str
        raise ControlError(f"packet[{kind!r}]: field names must be strings, got "
                           f"{sorted(repr(name) for name in part if type(name) is not str)[:4]}")
    if part.keys() != fields.keys():
        missing, extra = sorted(fields.keys() - part.keys()), sorted(part.keys() - fields.keys())
        raise ControlError(f"packet[{kind!r}]: missing fields {missing}, unknown fields {extra}")
    for name, spec in fields.items():
        v, ftype, shape = part[name], spec["type"], spec.get("shape", [])
        if not shape:
            _value(kind, name, v, ftype, spec)
            continue
        n = shape[0]
        if type(v) is not list and type(v) is not tuple:
            raise ControlError(f"packet[{kind!r}][{name!r}]: expected a list, got {type(v).__name__}")
        if (n >= 0 and len(v) != n) or (n < 0 and len(v) > spec.get("max_len", 64)):
            want = n if n >= 0 else f"at most {spec.get('max_len', 64)}"
            raise ControlError(f"packet[{kind!r}][{name!r}]: expected {want} values, got {len(v)}")
        if ftype == "float" and "enum" not in spec:
            # fast path: a type scan, then one sum (NaN or inf anywhere makes the sum non-finite)
            for x in v:
                if type(x) is not float and type(x) is not int:
                    _value(kind, name, x, ftype, spec)
            if not math.isfinite(sum(v)):
                bad = next((x for x in v if not math.isfinite(x)), None)
                what = f"{bad} is not finite" if bad is not None else "values too large (sum overflows)"
                raise ControlError(f"packet[{kind!r}][{name!r}]: {what}")
        else:
            for x in v:
                _value(kind, name, x, ftype, spec)
