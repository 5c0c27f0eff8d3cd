"""The OpenAPI 3.1 document of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written by hand, next to the routes it describes; a test compares it with the app's routes
and validates every documented operation's answers against it.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["DOCUMENT", "serve_openapi"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "401": _json(_ref("Error"), "missing or unknown token"),
    "403": _json(_ref("Error"), "the token's scope does not allow this"),
    "422": _json(_ref("Error"), "the body or a parameter is not acceptable; `field` says which"),
}
_NOT_FOUND = {"404": _json(_ref("Error"), "no such campaign (or recipient) in this account")}
_CAMPAIGN = {
    "name": "campaign",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^cmp_[0-9a-z]{13}$"},
}
_WEBHOOK = {
    "name": "webhook",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^whk_[0-9a-z]{13}$"},
}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_MAILER = [{"bearer": ["mailer"]}]
_DPO = [{"bearer": ["dpo"]}]


def _op(
    summary: str,
    security: list[dict[str, list[str]]],
    responses: dict[str, Any],
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    operation_id: str = "",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "security": security,
        "responses": {**responses, **_ERRORS},
    }
    if body is not None:
        operation["requestBody"] = _body(body)
    if parameters:
        operation["parameters"] = parameters
    return operation


_SPLIT = {
    "type": "object",
    "required": ["human", "proxy", "machine", "all"],
    "properties": {v: {"type": ["integer", "null"]} for v in ("human", "proxy", "machine", "all")},
}
_FIGURES = {
    "type": "object",
    "required": ["total", "unique_estimate", "unique_consenting"],
    "properties": {
        "total": _ref("Split"),
        "unique_estimate": _ref("Split"),
        "unique_consenting": _ref("Split"),
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
    },
    "Split": _SPLIT,
    "Figures": _FIGURES,
    "LinkNumbers": {"type": "object", "additionalProperties": {"type": "integer"}},
    "Minted": {
        "type": "object",
        "required": ["pixel", "links", "consent", "named"],
        "properties": {
            "pixel": {"type": "string"},
            "consent": {"type": "string"},
            "named": {"type": "boolean"},
            "links": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Campaign": {
        "type": "object",
        "required": ["campaign", "name", "created_at"],
        "properties": {
            "campaign": {"type": "string"},
            "name": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "links": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["url", "link"],
                    "properties": {"url": {"type": "string"}, "link": {"type": "integer"}},
                },
            },
        },
    },
    "Report": {
        "type": "object",
        "required": ["campaign", "audience", "k", "opens", "links", "hourly"],
        "properties": {
            "campaign": {"type": "string"},
            "audience": {"type": "integer"},
            "k": {"type": "integer"},
            "breakdown_suppressed": {"type": "boolean"},
            "unique_estimate_error": {"type": "number"},
            "opens": _ref("Figures"),
            "links": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["url", "clicks"],
                    "properties": {
                        "url": {"type": "string"},
                        "link": {"type": "integer"},
                        "clicks": _ref("Figures"),
                    },
                },
            },
            "hourly": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["hour", "opens", "clicks"],
                    "properties": {
                        "hour": {"type": "string"},
                        "opens": _ref("Split"),
                        "clicks": _ref("Split"),
                    },
                },
            },
        },
    },
    "ImportedConsent": {
        "type": "object",
        "required": ["email", "granted_at", "evidence"],
        "properties": {
            "email": {"type": "string"},
            "granted_at": {"type": "string", "format": "date-time"},
            "evidence": {"type": ["object", "string"]},
        },
    },
    "Email": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}},
}

_PATHS: dict[str, Any] = {
    "/api/v1/campaigns": {
        "post": _op(
            "Create a campaign with its tracked links",
            _MAILER,
            {
                "201": _json(
                    {
                        "type": "object",
                        "required": ["campaign", "links"],
                        "properties": {
                            "campaign": {"type": "string"},
                            "links": _ref("LinkNumbers"),
                        },
                    },
                    "created",
                )
            },
            body={
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "links": _STRINGS},
            },
            operation_id="createCampaign",
        ),
        "get": _op(
            "List the account's campaigns, newest first",
            _MAILER,
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["items", "next"],
                        "properties": {
                            "items": {"type": "array", "items": _ref("Campaign")},
                            "next": {"type": ["string", "null"]},
                        },
                    },
                    "a page",
                )
            },
            parameters=[
                {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            ],
            operation_id="listCampaigns",
        ),
    },
    "/api/v1/campaigns/{campaign}": {
        "get": _op(
            "A campaign and its links",
            _MAILER,
            {"200": _json(_ref("Campaign"), "the campaign"), **_NOT_FOUND},
            parameters=[_CAMPAIGN],
            operation_id="getCampaign",
        ),
    },
    "/api/v1/campaigns/{campaign}/links": {
        "post": _op(
            "Register link targets (idempotent)",
            _MAILER,
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["links"],
                        "properties": {"links": _ref("LinkNumbers")},
                    },
                    "link numbers",
                ),
                **_NOT_FOUND,
            },
            body={"type": "object", "required": ["links"], "properties": {"links": _STRINGS}},
            parameters=[_CAMPAIGN],
            operation_id="registerLinks",
        ),
    },
    "/api/v1/campaigns/{campaign}/mint": {
        "post": _op(
            "A recipient's pixel, link and consent URLs for one mail",
            _MAILER,
            {"200": _json(_ref("Minted"), "the URLs"), **_NOT_FOUND},
            body={
                "type": "object",
                "required": ["recipient"],
                "properties": {"recipient": {"type": "string"}, "links": _STRINGS},
            },
            parameters=[_CAMPAIGN],
            operation_id="mint",
        ),
    },
    "/api/v1/campaigns/{campaign}/mint-batch": {
        "post": _op(
            "URLs for up to 1000 recipients",
            _MAILER,
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {
                                "type": "array",
                                "items": {
                                    "allOf": [
                                        _ref("Minted"),
                                        {
                                            "type": "object",
                                            "required": ["recipient"],
                                            "properties": {"recipient": {"type": "string"}},
                                        },
                                    ]
                                },
                            }
                        },
                    },
                    "the URLs",
                ),
                **_NOT_FOUND,
            },
            body={
                "type": "object",
                "required": ["recipients"],
                "properties": {"recipients": _STRINGS, "links": _STRINGS},
            },
            parameters=[_CAMPAIGN],
            operation_id="mintBatch",
        ),
    },
    "/api/v1/campaigns/{campaign}/rewrite": {
        "post": _op(
            "Rewrite a mail's HTML for one recipient",
            _MAILER,
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["html", "named", "links"],
                        "properties": {
                            "html": {"type": "string"},
                            "named": {"type": "boolean"},
                            "links": _STRINGS,
                        },
                    },
                    "the rewritten HTML",
                ),
                **_NOT_FOUND,
            },
            body={
                "type": "object",
                "required": ["recipient", "html"],
                "properties": {
                    "recipient": {"type": "string"},
                    "html": {"type": "string"},
                    "lang": {"enum": ["de", "en"]},
                },
            },
            parameters=[_CAMPAIGN],
            operation_id="rewrite",
        ),
    },
    "/api/v1/campaigns/{campaign}/report": {
        "get": _op(
            "The campaign report, k-anonymous",
            _MAILER,
            {"200": _json(_ref("Report"), "the report"), **_NOT_FOUND},
            parameters=[_CAMPAIGN],
            operation_id="getReport",
        ),
    },
    "/api/v1/campaigns/{campaign}/report-link": {
        "post": _op(
            "A link to the report page, valid for an hour",
            _MAILER,
            {
                "201": _json(
                    {
                        "type": "object",
                        "required": ["url", "expires_at"],
                        "properties": {"url": {"type": "string"}, "expires_at": {"type": "string"}},
                    },
                    "the link",
                ),
                **_NOT_FOUND,
            },
            parameters=[_CAMPAIGN],
            operation_id="createReportLink",
        ),
    },
    "/api/v1/webhooks": {
        "post": _op(
            "Add a webhook endpoint; the secret is shown once",
            _MAILER,
            {
                "201": _json(
                    {
                        "type": "object",
                        "required": ["webhook", "secret"],
                        "properties": {"webhook": {"type": "string"}, "secret": {"type": "string"}},
                    },
                    "created",
                )
            },
            body={
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {"type": "string"},
                    "verdicts": {"type": "array", "items": {"enum": ["human", "proxy", "machine"]}},
                    "hourly_summary": {
                        "type": "boolean",
                        "description": "instead of events: each hour's anonymous campaign"
                        " figures (k rule)",
                    },
                },
            },
            operation_id="addWebhook",
        ),
        "get": _op(
            "The account's webhook endpoints",
            _MAILER,
            {
                "200": _json(
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["webhook", "url", "verdicts", "hourly_summary"],
                            "properties": {
                                "webhook": {"type": "string"},
                                "url": {"type": "string"},
                                "verdicts": {"type": "array", "items": {"type": "string"}},
                                "hourly_summary": {"type": "boolean"},
                            },
                        },
                    },
                    "endpoints",
                )
            },
            operation_id="listWebhooks",
        ),
    },
    "/api/v1/webhooks/{webhook}": {
        "delete": _op(
            "Remove an endpoint",
            _MAILER,
            {"200": _json({"type": "object"}, "removed"), **_NOT_FOUND},
            parameters=[_WEBHOOK],
            operation_id="removeWebhook",
        ),
    },
    "/api/v1/webhooks/{webhook}/deliveries": {
        "get": _op(
            "Recent deliveries and their results",
            _MAILER,
            {"200": _json({"type": "array"}, "deliveries"), **_NOT_FOUND},
            parameters=[_WEBHOOK],
            operation_id="webhookDeliveries",
        ),
    },
    "/api/v1/webhooks/{webhook}/replay": {
        "post": _op(
            "Send again what was delivered or given up since a time",
            _MAILER,
            {"200": _json({"type": "object", "required": ["replayed"]}, "queued"), **_NOT_FOUND},
            body={
                "type": "object",
                "required": ["since"],
                "properties": {"since": {"type": "string", "format": "date-time"}},
            },
            parameters=[_WEBHOOK],
            operation_id="replayWebhook",
        ),
    },
    "/api/v1/consents/import": {
        "post": _op(
            "Import consents collected elsewhere, with evidence",
            _MAILER + _DPO,
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["imported", "skipped"],
                        "properties": {
                            "imported": {"type": "integer"},
                            "skipped": {"type": "integer"},
                        },
                    },
                    "the outcome",
                )
            },
            body={
                "type": "object",
                "required": ["consents"],
                "properties": {"consents": {"type": "array", "items": _ref("ImportedConsent")}},
            },
            operation_id="importConsents",
        ),
    },
    "/api/v1/dpo/consents": {
        "get": _op(
            "The consent ledger with proof, streamed",
            _DPO,
            {
                "200": {
                    "description": "JSON array or CSV",
                    "content": {
                        "application/json": {"schema": {"type": "array"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                }
            },
            parameters=[{"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}}],
            operation_id="exportConsents",
        ),
    },
    "/api/v1/dpo/access": {
        "post": _op(
            "Everything held about one recipient (Art. 15)",
            _DPO,
            {
                "200": _json(
                    {"type": "object", "required": ["recipient", "consent", "events"]}, "the data"
                ),
                **_NOT_FOUND,
            },
            body=_ref("Email"),
            operation_id="dpoAccess",
        ),
    },
    "/api/v1/dpo/erase": {
        "post": _op(
            "Erase one recipient (Art. 17)",
            _DPO,
            {"200": _json({"type": "object", "required": ["erased"]}, "erased"), **_NOT_FOUND},
            body=_ref("Email"),
            operation_id="dpoErase",
        ),
    },
    "/api/v1/dpo/ropa": {
        "get": _op(
            "The record of processing activities (Art. 30)",
            _DPO,
            {
                "200": {
                    "description": "JSON, or Markdown with format=md",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/markdown": {"schema": {"type": "string"}},
                    },
                }
            },
            parameters=[{"name": "format", "in": "query", "schema": {"enum": ["json", "md"]}}],
            operation_id="dpoRopa",
        ),
    },
    "/api/v1/dpo/purge": {
        "post": _op(
            "Apply retention now",
            _DPO,
            {"200": _json({"type": "object"}, "done")},
            operation_id="dpoPurge",
        ),
    },
    "/api/v1/dpo/verify-ledger": {
        "get": _op(
            "Verify the ledger's hash chain",
            _DPO,
            {
                "200": _json({"type": "object", "required": ["ok", "rows", "head"]}, "intact"),
                "409": _json({"type": "object", "required": ["ok", "problem"]}, "tampered"),
            },
            operation_id="dpoVerifyLedger",
        ),
    },
    "/api/v1/dpo/audit": {
        "get": _op(
            "The audit log, newest first",
            _DPO,
            {"200": _json({"type": "array"}, "entries")},
            operation_id="dpoAudit",
        ),
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "consent-tracker API",
        "version": "1",
        "description": "Mailer and DPO API of the consent-gated tracking server.",
    },
    "paths": _PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "an API token of scope mailer or dpo",
            }
        },
    },
}


async def serve_openapi(request: Request) -> Response:
    return JSONResponse(DOCUMENT)
