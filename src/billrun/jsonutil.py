"""JSON that never loses a digit: numbers parse to ``int`` / ``Decimal`` and ``Decimal`` serialises as its
exact text. Used for request bodies, JSONB columns and responses (SPEC §3.3, §5.4)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from decimal import Decimal
from typing import Any


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=int)


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    return str(value)


def dumps(value: Any) -> str:
    """Serialise with exact decimals (``Decimal("1.50")`` -> ``1.50``).

    The C encoder does the work: it hands every value it does not know to ``default``, which turns UUIDs and
    dates into strings and each Decimal into a unique placeholder string; one pass then replaces the
    placeholders by the decimals' exact text."""
    decimals: list[str] = []
    nonce = os.urandom(6).hex()

    def default(node: Any) -> Any:
        if isinstance(node, Decimal):
            decimals.append(_number(node))
            return f"\x00{nonce}:{len(decimals) - 1}\x00"
        if isinstance(node, uuid.UUID):
            return str(node)
        if isinstance(node, dt.datetime | dt.date):
            return node.isoformat()
        raise TypeError(f"cannot serialise {type(node).__name__}")

    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    except TypeError:  # keys that are not strings (UUIDs, dates): the pure-Python writer takes them
        parts: list[str] = []
        _write(value, parts)
        return "".join(parts)
    if not decimals:
        return text
    placeholder = re.compile('"\\\\u0000' + nonce + ':([0-9]+)\\\\u0000"')
    return placeholder.sub(lambda match: decimals[int(match.group(1))], text)


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(_number(value))
    elif isinstance(value, float):
        out.append(json.dumps(value))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, uuid.UUID):
        out.append(f'"{value}"')
    elif isinstance(value, dt.datetime | dt.date):
        out.append(f'"{value.isoformat()}"')
    else:
        raise TypeError(f"cannot serialise {type(value).__name__}")
