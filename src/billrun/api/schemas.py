"""Request-body JSON schemas for the OpenAPI document (``/api/openapi.json``).

Bodies are validated by hand (every bad field reported with its JSON path, legacy names mapped), so FastAPI
cannot derive their shapes; these schemas document them for clients and for schemathesis. Decimals are
strings or numbers (SPEC §3.3).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from billrun.domain.statuses import CatalogStatus, EndpointStatus, EventType, PaymentStatus

DECIMAL: dict[str, Any] = {"oneOf": [{"type": "string", "pattern": r"^[+-]?\d+(\.\d+)?$"}, {"type": "number"}]}
TEXT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255}
DATE: dict[str, Any] = {"type": "string", "format": "date"}
TIMESTAMP: dict[str, Any] = {"type": "string", "format": "date-time"}
ID: dict[str, Any] = {"type": "string"}
NULLABLE_TEXT: dict[str, Any] = {"type": ["string", "null"], "maxLength": 255}


def obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


TIER = obj(
    ["price"],
    upperBound={"oneOf": [DECIMAL, {"type": "null"}]},
    price=DECIMAL,
    fee=DECIMAL,
    isPricePercentage={"type": "boolean"},
    minPrice=DECIMAL,
    maxPrice=DECIMAL,
)
STRUCTURE = obj(
    ["pricingType"],
    pricingType={"enum": ["FIXED", "ONE_TIME", "LINEAR", "PACKAGE", "VOLUME", "GRADUATED", "SEAT_BASED"]},
    price=DECIMAL,
    pricePerUnit=DECIMAL,
    usageMetricId=ID,
    isPricePercentage={"type": "boolean"},
    minPrice=DECIMAL,
    maxPrice=DECIMAL,
    packageSize=DECIMAL,
    pricePerPackage=DECIMAL,
    tiers={"type": "array", "items": TIER},
    usageCalculationMode={"enum": ["BILLING_PERIOD", "CUMULATIVE", "PERIODIC"]},
    seatMetricId=ID,
    pricePerSeat=DECIMAL,
    prorationStrategy={"enum": ["USE_MAXIMUM", "PRORATE_INCREMENTS", "PRORATE_ALL_CHANGES"]},
    contractedMinimumSeats={"type": "integer", "minimum": 0},
    overagesBillingFrequency={"enum": ["MONTHLY", "QUARTERLY", "HALF_YEARLY", "YEARLY", "NONE", None]},
)
FREQUENCY = {"enum": ["ON_DEMAND", "ONE_TIME", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "YEARLY"]}
PRICE = obj(
    ["name", "productId", "currency", "structure", "billingFrequency", "billingType"],
    name=TEXT,
    productId=ID,
    currency={"type": "string", "minLength": 3, "maxLength": 3},
    structure=STRUCTURE,
    billingFrequency=FREQUENCY,
    billingType={"enum": ["IN_ARREARS", "IN_ADVANCE"]},
    integrationIds={"type": "array"},
    listPriceId=NULLABLE_TEXT,
    customMetricParameters={"type": "array"},
    status={"enum": list(CatalogStatus)},
    usageCalculationPeriod=obj(
        ["frequency"],
        frequency={"enum": ["MONTHLY", "QUARTERLY", "HALF_YEARLY", "YEARLY"]},
        interval={"type": "integer", "minimum": 1},
    ),
)
ADDRESS = obj(
    ["line1", "town", "postcode", "country"],
    line1=TEXT,
    line2=NULLABLE_TEXT,
    town=TEXT,
    state=NULLABLE_TEXT,
    postcode=TEXT,
    country={"type": "string", "minLength": 2, "maxLength": 2},
)
CUSTOMER = obj(
    ["legalName", "address"],
    legalName=TEXT,
    address=ADDRESS,
    contacts={
        "type": "array",
        "items": obj(
            [],
            name=NULLABLE_TEXT,
            email=NULLABLE_TEXT,
            phone=NULLABLE_TEXT,
            billingPreference={"enum": ["PRIMARY", "STANDARD", "NONE"]},
        ),
    },
    url=NULLABLE_TEXT,
    domain=NULLABLE_TEXT,
    label=NULLABLE_TEXT,
    taxStatus={"enum": ["TAXED", "TAX_EXEMPT", "REVERSE_CHARGED"]},
    customerAliases={"type": "array", "items": TEXT},
    parentId={"type": ["string", "null"]},
)
TAX_RATE = obj(
    ["name", "invoiceName", "invoiceShortName", "amount", "country"],
    name=TEXT,
    invoiceName=TEXT,
    invoiceShortName=TEXT,
    description={"type": ["string", "null"]},
    amount=DECIMAL,
    country={"type": "string", "minLength": 2, "maxLength": 2},
    region=NULLABLE_TEXT,
    isPublished={"type": "boolean"},
)
PHASE = obj(
    ["priceIds", "startDate"],
    priceIds={"type": "array", "items": ID},
    name=NULLABLE_TEXT,
    externalContractRef=NULLABLE_TEXT,
    listPriceIds={"type": "array", "items": ID},
    phasePriceMetadata={"type": "array"},
    phaseListPriceMetadata={"type": "array"},
    creditGrants={"type": "array", "maxItems": 0},
    startDate=DATE,
    endDate={"oneOf": [DATE, {"type": "null"}]},
    recurrencePreference={"enum": ["CONTINUE_FROM_PREVIOUS_PHASE", "RESET"]},
    discounts={
        "type": "array",
        "items": obj(
            ["type", "amount", "message", "separateLineItem"],
            type={"enum": ["PERCENTAGE", "NOMINAL"]},
            amount=DECIMAL,
            message=TEXT,
            separateLineItem={"type": "boolean"},
            restrictToPrices={"type": "array", "items": ID},
        ),
    },
    minimums={
        "type": "array",
        "items": obj(["amount"], amount=DECIMAL, restrictToPrices={"type": "array", "items": ID}),
    },
)
SCHEDULE = obj(
    ["customerId", "startDate", "taxRates", "phases"],
    customerId=ID,
    startDate=DATE,
    endDate={"oneOf": [DATE, {"type": "null"}]},
    recurrenceDayOfMonth={"type": "integer", "minimum": 1, "maximum": 31},
    taxRates={"type": "array", "items": obj(["priceId", "taxRateId"], priceId=ID, taxRateId=ID)},
    phases={"type": "array", "items": PHASE, "minItems": 1},
    autoIssueInvoices={"type": "boolean"},
    isDraft={"type": "boolean"},
    rollUpBilling={"type": "boolean"},
    purchaseOrderNumber=NULLABLE_TEXT,
    reference=NULLABLE_TEXT,
    label=NULLABLE_TEXT,
    timeTravellerId={"type": ["string", "null"]},
    attachmentAssetIds={"type": "array", "items": ID},
    customFields={"type": "object"},
    memo={"type": ["string", "null"]},
    defaultDueDateDays={"type": "integer", "minimum": 0, "maximum": 3650},
)
USAGE_EVENT = obj(
    ["customerAlias", "eventType"],
    customerEventId=NULLABLE_TEXT,
    customerAlias=TEXT,
    eventType=TEXT,
    eventTimestamp=TIMESTAMP,
    eventProperties={"type": "object"},
)
SEAT_EVENT = obj(
    ["customerAlias", "seatType", "eventTimestamp", "total"],
    customerEventId=NULLABLE_TEXT,
    customerAlias=TEXT,
    seatType=TEXT,
    eventTimestamp=TIMESTAMP,
    total={"type": "integer", "minimum": 0},
)
USAGE_METRIC = obj(
    ["name", "metricType", "eventType", "aggregationType"],
    name=TEXT,
    description={"type": ["string", "null"]},
    metricType={"enum": ["SIMPLE", "GROUPED"]},
    eventType=TEXT,
    unit=NULLABLE_TEXT,
    aggregationType={"enum": ["COUNT", "UNIQUE", "SUM", "MAX"]},
    aggregationProperty=NULLABLE_TEXT,
    groupingProperty=NULLABLE_TEXT,
    propertyFilters={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    caseSensitive={"type": "boolean"},
    propertiesToNegate={"type": "array", "items": TEXT},
)
LINE = obj(
    ["title", "quantity", "rate"],
    title=TEXT,
    description={"type": ["string", "null"]},
    quantity=DECIMAL,
    rate=DECIMAL,
    taxRateId={"type": ["string", "null"]},
    taxRate=DECIMAL,
    groupId={"type": ["string", "null"]},
    priceId={"type": ["string", "null"]},
    rateDisplay={"enum": ["ABSOLUTE", "PERCENTAGE"]},
    externalIds={"type": "array"},
)
INVOICE_FIELDS: dict[str, Any] = {
    "purchaseOrderNumber": NULLABLE_TEXT,
    "reference": NULLABLE_TEXT,
    "memo": {"type": ["string", "null"]},
    "dueDate": {"oneOf": [DATE, {"type": "null"}]},
    "accountingDate": {"oneOf": [DATE, {"type": "null"}]},
    "customerEmails": {"type": "array", "items": TEXT},
    "customerLegalCompanyName": TEXT,
    "customerBillingAddress": ADDRESS,
    "customerShippingAddress": ADDRESS,
    "paymentOptions": {"type": "array", "items": {"enum": ["BANK_TRANSFER", "LINK"]}},
    "metadata": {"type": "array", "items": obj(["key", "value"], key=TEXT, value={"type": "string"})},
}
GROUP = obj(["title"], title=TEXT, description={"type": ["string", "null"]})
CONTACT = obj(
    ["email"],
    name=NULLABLE_TEXT,
    email=TEXT,
    phone=NULLABLE_TEXT,
    billingPreference={"enum": ["PRIMARY", "STANDARD", "NONE"]},
)

WEBHOOK_ENDPOINT = obj(
    ["url"],
    url={"type": "string", "minLength": 1, "maxLength": 2000, "format": "uri"},
    eventTypes={"type": "array", "items": {"enum": list(EventType)}},
    description={"type": ["string", "null"], "maxLength": 4000},
    status={"enum": list(EndpointStatus)},
)
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/products"): obj(["name"], name=TEXT, label=NULLABLE_TEXT),
    ("put", "/api/products/{product_id}"): obj([], name=TEXT, label=NULLABLE_TEXT),
    ("post", "/api/seat-metrics"): obj(
        ["seatType", "label"],
        seatType={"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"},
        label=TEXT,
        description={"type": ["string", "null"]},
    ),
    ("put", "/api/seat-metrics/{metric_id}"): obj([], label=TEXT, description={"type": ["string", "null"]}),
    ("post", "/api/usage-metrics"): USAGE_METRIC,
    ("put", "/api/usage-metrics/{metric_id}"): {**USAGE_METRIC, "required": []},
    ("post", "/api/prices"): PRICE,
    ("put", "/api/prices/{price_id}"): {**PRICE, "required": []},
    ("post", "/api/customers"): CUSTOMER,
    ("put", "/api/customers/{customer_id}"): {**CUSTOMER, "required": []},
    ("post", "/api/customer-aliases"): obj(["customerId", "value"], customerId=ID, value=TEXT, label=NULLABLE_TEXT),
    ("put", "/api/customer-aliases/{alias_id}"): obj([], label=NULLABLE_TEXT),
    ("post", "/api/tax-rates"): TAX_RATE,
    ("put", "/api/tax-rates/{rate_id}"): {**TAX_RATE, "required": []},
    ("post", "/api/billing-schedules"): SCHEDULE,
    ("put", "/api/billing-schedules/{schedule_id}"): {**SCHEDULE, "required": ["startDate", "taxRates", "phases"]},
    ("post", "/api/billing-schedules/{schedule_id}/preview"): obj([], date=DATE),
    ("post", "/api/backtests"): obj(
        ["from", "to", "replacePrices"],
        **{
            "from": DATE,
            "to": DATE,
            "replacePrices": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": obj(["priceId", "with"], priceId=ID, **{"with": PRICE}),
            },
            "customerIds": {"type": "array", "items": ID, "maxItems": 1000},
        },
    ),
    ("post", "/api/time-travellers"): obj(
        ["frozenTime"], frozenTime=TIMESTAMP, billingScheduleId={"type": ["string", "null"]}
    ),
    ("put", "/api/time-travellers/{traveller_id}"): obj(["frozenTime"], frozenTime=TIMESTAMP),
    ("post", "/api/usage-events"): USAGE_EVENT,
    ("post", "/api/usage-events/batch"): obj(
        ["events"], events={"type": "array", "items": USAGE_EVENT, "minItems": 1, "maxItems": 1000}
    ),
    ("post", "/api/seat-events"): SEAT_EVENT,
    ("post", "/api/seat-events/batch"): obj(
        ["events"], events={"type": "array", "items": SEAT_EVENT, "minItems": 1, "maxItems": 1000}
    ),
    ("post", "/api/invoices"): obj(
        ["customerId", "currency"],
        customerId=ID,
        currency=TEXT,
        billingScheduleId={"type": ["string", "null"]},
        billingPeriod=obj(["start", "endInclusive"], start=DATE, endInclusive=DATE),
        **INVOICE_FIELDS,
    ),
    ("put", "/api/invoices/{invoice_id}"): obj([], **INVOICE_FIELDS),
    ("patch", "/api/invoices/{invoice_id}"): obj([], **INVOICE_FIELDS),
    ("post", "/api/invoices/{invoice_id}/line-item-groups"): GROUP,
    ("put", "/api/invoices/{invoice_id}/line-item-groups/{group_id}"): {**GROUP, "required": []},
    ("post", "/api/customers/{customer_id}/contacts"): CONTACT,
    ("put", "/api/customers/{customer_id}/contacts/{contact_id}"): {**CONTACT, "required": []},
    ("post", "/api/invoices/{invoice_id}/line-items"): LINE,
    ("put", "/api/invoices/{invoice_id}/line-items/{line_id}"): {**LINE, "required": []},
    ("put", "/api/invoices/{invoice_id}/payment-status"): obj(
        ["paymentStatus"], paymentStatus={"enum": list(PaymentStatus)}
    ),
    ("post", "/api/webhook-endpoints"): WEBHOOK_ENDPOINT,
    ("put", "/api/webhook-endpoints/{endpoint_id}"): WEBHOOK_ENDPOINT,
    ("post", "/api/invoices/recalculate"): obj(
        [], invoiceIds={"type": "array", "items": ID}, billingScheduleId={"type": ["string", "null"]}
    ),
}


def install(app: FastAPI) -> None:
    """Add the request bodies to the generated OpenAPI document, once, on first request for it."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        for (method, path), body in BODIES.items():
            operation = schema.get("paths", {}).get(path, {}).get(method)
            if operation is not None:
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
