"""JSON that never loses a digit: numbers parse to ``int`` / ``Decimal`` and ``Decimal`` serialises as its
exact text. Used for request bodies, JSONB columns and responses (SPEC §3.3, §5.4)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


def loads(text: str | bytes) -> Any:
    """Trusted JSON (our own JSONB columns): exact numbers, no bounds."""
    return json.loads(text, parse_float=Decimal, parse_int=int)


class UnsafeJson(ValueError):
    """A request body that parses but must not be processed: ``key`` is the JSON path of the offending value."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


#: Bounds on untrusted JSON, applied before any other work (README "Security"). No field of the API needs
#: more: amounts and quantities are validated again per field against their own ranges.
MAX_DEPTH = 32
MAX_NUMBER_DIGITS = 40
MAX_EXPONENT = 40
MAX_STRING_CHARS = 100_000
_NUMBER = re.compile(r"-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?")


def _bounded_number(text: str) -> Decimal | int:
    """A JSON number checked on its text before it is converted: ``1e999999999`` or a 5,000-digit integer would
    otherwise cost minutes of CPU in a later ``int()`` or arithmetic."""
    match = _NUMBER.fullmatch(text)
    if match is None:  # the scanner only hands over valid numbers
        raise UnsafeJson("", f"{text[:40]} is not a number")
    whole, fraction, exponent = match.groups()
    digits = len(whole.lstrip("0")) + len(fraction or "")
    if digits > MAX_NUMBER_DIGITS or (
        exponent is not None and (len(exponent) > 4 or abs(int(exponent)) > MAX_EXPONENT)
    ):
        raise UnsafeJson("", f"the number {text[:40]}{'...' if len(text) > 40 else ''} is too large or too precise")
    if fraction is None and exponent is None:
        return int(text)
    return Decimal(text)


def _no_constant(name: str) -> Any:
    raise UnsafeJson("", f"{name} is not a JSON number")


def loads_untrusted(text: str | bytes) -> Any:
    """A request body: exact numbers within :data:`MAX_NUMBER_DIGITS` digits and exponents of
    :data:`MAX_EXPONENT`, no ``NaN`` or ``Infinity``, nesting up to :data:`MAX_DEPTH`, and strings that are
    valid Unicode without NUL (PostgreSQL stores neither a lone surrogate nor a NUL). Raises
    :class:`UnsafeJson`, or ``json.JSONDecodeError`` for text that is not JSON."""
    try:
        value = json.loads(text, parse_float=_bounded_number, parse_int=_bounded_number, parse_constant=_no_constant)
    except RecursionError:
        raise UnsafeJson("", f"JSON nested deeper than {MAX_DEPTH} levels") from None
    _check(value, "", 0)
    return value


def _check(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise UnsafeJson(path, f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_string(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            _check_string(key, path)
            _check(item, child, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]", depth + 1)


def _check_string(text: str, path: str) -> None:
    if len(text) > MAX_STRING_CHARS:
        raise UnsafeJson(path, f"a string longer than {MAX_STRING_CHARS} characters")
    if "\x00" in text:
        raise UnsafeJson(path, "a string holds a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJson(path, "a string holds an unpaired UTF-16 surrogate") from None


@dataclass(frozen=True, slots=True)
class RawJson:
    """JSON text that :func:`dumps` writes as it is: a part of many documents, serialised once (the catalog
    part of calculation snapshots: the same prices in every invoice of a billing run)."""

    text: str


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    return str(value)


class _Verbatim(threading.local):
    """What :func:`dumps` met in the value it is writing, per thread (the API serves requests on threads)."""

    def __init__(self) -> None:
        self.texts: list[str] = []  # the exact text of each Decimal and RawJson met, in order
        self.nonce = ""  # drawn when the first one is met, so that no text can spell a placeholder


_verbatim = _Verbatim()


def _default(node: Any) -> Any:
    if isinstance(node, Decimal | RawJson):
        texts = _verbatim.texts
        if not texts:
            _verbatim.nonce = os.urandom(6).hex()
        texts.append(_number(node) if isinstance(node, Decimal) else node.text)
        return f"\x00{_verbatim.nonce}:{len(texts) - 1}\x00"
    if isinstance(node, uuid.UUID):
        return str(node)
    if isinstance(node, dt.datetime | dt.date):
        return node.isoformat()
    raise TypeError(f"cannot serialise {type(node).__name__}")


# One C encoder for every call: ``json.dumps`` with options builds a JSONEncoder and a C encoder per call,
# which cost five times the writing of an event's few properties. (No check for cycles: nothing serialised
# here can hold one.)
_encode: Any = json.encoder.c_make_encoder(  # type: ignore[attr-defined]  # CPython's; not in the type stubs
    None, _default, json.encoder.encode_basestring, None, ":", ",", False, False, True
)


def dumps(value: Any) -> str:
    """Serialise with exact decimals (``Decimal("1.50")`` -> ``1.50``).

    The C encoder does the work: it hands every value it does not know to ``default``, which turns UUIDs and
    dates into strings and each Decimal (and :class:`RawJson`) into a unique placeholder string; one pass then
    replaces the placeholders by the decimals' exact text (and the raw JSON)."""
    texts: list[str] = []
    _verbatim.texts = texts
    try:
        text = "".join(_encode(value, 0))
    except TypeError:  # keys that are not strings (UUIDs, dates): the pure-Python writer takes them
        parts: list[str] = []
        _write(value, parts)
        return "".join(parts)
    if not texts:
        return text
    nonce = _verbatim.nonce

    def verbatim(match: re.Match[str]) -> str:
        return texts[int(match.group(2))] if match.group(1) == nonce else match.group(0)

    return _PLACEHOLDER.sub(verbatim, text)


# Any call's placeholder (a call's own are told by their nonce): a pattern spelling the nonce would be compiled
# anew by every call, which cost more than writing a whole invoice line.
_PLACEHOLDER = re.compile('"\\\\u0000([0-9a-f]{12}):([0-9]+)\\\\u0000"')


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(_number(value))
    elif isinstance(value, RawJson):
        out.append(value.text)
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
