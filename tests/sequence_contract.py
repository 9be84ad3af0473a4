"""Sequence's published OpenAPI (the repository's copies in tests/acceptance/sequence-openapi/) as a checker:
which of its operations billrun serves, and whether a response body is what its schema promises.

The 2024-07-30 product spec is the contract; the older "full" spec is used only for the operations the product
spec lacks (billing runs, billing execution, time travellers, bulk recalculation, CSV import). OpenAPI 3.0's
``nullable`` is turned into JSON Schema before validating, so a ``null`` passes exactly where Sequence allows it.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs

SPEC_DIR = Path(__file__).parent / "acceptance" / "sequence-openapi"
PRODUCT = SPEC_DIR / "2024-07-30.product.json"
FULL = SPEC_DIR / "full-2024-05-03.json"


@functools.cache
def spec(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def template_key(path: str) -> str:
    """A path template with its parameter names erased: ``/customers/{id}`` and ``/customers/{customer_id}``
    are the same operation."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def spec_for(method: str, template: str) -> tuple[Path, str] | None:
    """The spec file and its own path template for an operation, the product spec first."""
    for source in (PRODUCT, FULL):
        for path, item in spec(source)["paths"].items():
            if template_key(path) == template_key(template) and method.lower() in item:
                return source, path
    return None


#: The written allow-list: where Sequence's schema contradicts Sequence's own documented behaviour, or SPEC.md
#: decides otherwise, the checks read the schema as corrected here, each correction with its reason.
#: A property's schema replaced, in the schemas whose names contain the given text ("" for all):
PROPERTY_CORRECTIONS: dict[tuple[str, str], tuple[dict[str, Any], str]] = {
    ("propertyFilters", ""): (
        {"type": "object", "additionalProperties": {"type": "array"}},
        "the schema types each filter as an object, but Sequence's own usage-metric example, and SPEC §5.5, give "
        "each property a list of values ({'channels': ['text', 'email']})",
    ),
    ("eventProperties", "GetUsageEvent"): (
        {"type": "object"},
        "the older spec's GET /usage-events/{id} types every event property as an object, while its own "
        "create and list schemas take any value and Sequence's example event has a number and a string",
    ),
    ("quantity", "InvoicePreviewEndpointLineItem"): (
        {"type": "string"},
        "the older spec's preview line types quantity as a number beside string rates and tax rates; billrun "
        "writes every decimal as a string (SPEC §3.3), as the 2024-07-30 line items do",
    ),
}
#: A required field made optional, in the schemas whose names contain the given text:
OPTIONAL_FIELDS: dict[tuple[str, str], str] = {
    (
        "billingScheduleId",
        "TimeTravellerResponseModel",
    ): "SPEC §7 lets a traveller be created before its schedule (the seed "
    "guide's order): until a schedule names it, it has none. A Sequence client always creates it with one.",
}


def _corrected(node: Any, name: str = "") -> Any:
    """``node`` corrected by the allow-list; ``name`` is the key it sits under (a component schema's name)."""
    if isinstance(node, list):
        return [_corrected(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _corrected(v, k) for k, v in node.items()}
    properties = out.get("properties")
    if isinstance(properties, dict):
        for (prop, part), (schema, _) in PROPERTY_CORRECTIONS.items():
            if prop in properties and part in name:
                properties[prop] = {**schema, "description": properties[prop].get("description", prop)}
    if isinstance(out.get("required"), list):
        relaxed = {field for (field, part) in OPTIONAL_FIELDS if part in name}
        out["required"] = [field for field in out["required"] if field not in relaxed]
    return out


@functools.cache
def corrected_spec(path: Path) -> dict[str, Any]:
    """Sequence's spec with the allow-list applied (what schemathesis is given, too)."""
    return dict(_corrected(spec(path)))


#: Literal path segments of Sequence's that billrun serves through one of its path parameters.
PARAMETER_LITERALS = {"{account_ref}": {"self", "all"}}


def _segment_matches(theirs: str, ours: str) -> bool:
    if ours.startswith("{"):
        return theirs.startswith("{") or theirs in PARAMETER_LITERALS.get(ours, set())
    return theirs == ours


def served_operations(source: Path, billrun_paths: dict[str, list[str]]) -> dict[str, tuple[str, str]]:
    """The spec's operations billrun serves, by operation id: (method, Sequence's path). ``billrun_paths`` maps
    billrun's own OpenAPI paths (without the /api prefix) to their methods."""
    ours = [(path.split("/"), {m.lower() for m in methods}) for path, methods in billrun_paths.items()]
    served = {}
    for path, item in spec(source)["paths"].items():
        theirs = path.split("/")
        for method, operation in item.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            if any(
                method in methods and len(segments) == len(theirs) and all(map(_segment_matches, theirs, segments))
                for segments, methods in ours
            ):
                served[operation["operationId"]] = (method, path)
    return served


def _jsonschema(node: Any) -> Any:
    if isinstance(node, list):
        return [_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _jsonschema(v) for k, v in node.items() if k not in ("nullable", "example", "examples")}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _validator(source: Path, path: str, method: str, status: int) -> Any:
    document = corrected_spec(source)
    operation = document["paths"][path][method.lower()]
    response = operation["responses"].get(str(status))
    if response is None:
        return None
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    root = {**_jsonschema(schema), "components": _jsonschema(document["components"])}
    return jsonschema_rs.Draft4Validator(root)


def violations(method: str, template: str, status: int, body: Any) -> list[str]:
    """What a client generated from Sequence's spec would reject in this response, one line per problem."""
    found = spec_for(method, template)
    if found is None:
        raise LookupError(f"{method} {template} is not in Sequence's specs")
    validator = _validator(found[0], found[1], method, status)
    if validator is None:
        return []
    return [f"{list(e.instance_path)}: {e.message}"[:300] for e in validator.iter_errors(body)]


def request_examples(source: Path, method: str, path: str) -> list[Any]:
    """The distinct request body examples Sequence documents for an operation."""
    operation = spec(source)["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    examples = [e["value"] for e in content.get("examples", {}).values() if "value" in e]
    if "example" in content:
        examples.append(content["example"])
    if "example" in content.get("schema", {}):
        examples.append(content["schema"]["example"])
    distinct = {json.dumps(e, sort_keys=True): e for e in examples}
    return list(distinct.values())
