"""JSON that never loses a digit: numbers parse to ``int`` / ``Decimal`` and ``Decimal`` serialises as its
exact text. Used for request bodies, JSONB columns and responses (SPEC §3.3, §5.4)."""

from __future__ import annotations

import datetime as dt
import json
import os
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

    Fast path: each Decimal is swapped for a unique placeholder string, the C encoder runs, and the
    placeholders are replaced by the decimals' exact text. Values the C encoder cannot take (datetimes,
    UUIDs) go through the slower pure-Python writer."""
    decimals: list[Decimal] = []
    nonce = os.urandom(6).hex()

    def swap(node: Any) -> Any:
        if isinstance(node, Decimal):
            decimals.append(node)
            return f"\x00{nonce}:{len(decimals) - 1}\x00"
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [swap(v) for v in node]
        return node

    try:
        text = json.dumps(swap(value), ensure_ascii=False, separators=(",", ":"))
    except TypeError:
        parts: list[str] = []
        _write(value, parts)
        return "".join(parts)
    for index, number in enumerate(decimals):
        text = text.replace(f'"\\u0000{nonce}:{index}\\u0000"', _number(number), 1)
    return text


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
