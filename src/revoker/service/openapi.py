"""``/openapi.json``, written by hand: every route, body, status and header the service sends.

A hand-written document keeps the service on Starlette (no FastAPI), and lets
the forward-auth path stay raw ASGI. ``tests/service/test_schemathesis.py``
holds the two together: every response must conform to this document.
"""

from __future__ import annotations

import copy
from typing import Any

from revoker.app.identity import IDENTITY_HEADERS
from revoker.app.settings import Settings
from revoker.core.registry import RuleKind
from revoker.service.openapi_schemas import HEADERS, SCHEMAS, SECURITY_SCHEMES, STRING, ref

__all__ = ["openapi_document"]

_AUTH_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"


def _error(description: str, *headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {_JSON: {"schema": ref("Error")}},
    }
    if headers:
        response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    return response


def _set_error() -> dict[str, Any]:
    return {
        "description": "The SET was refused (RFC 8935 §2.3), or the push token is missing or "
        "wrong: nothing is stored.",
        "content": {_JSON: {"schema": ref("SetError")}},
    }


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": ref(schema)}}}


_LIMITED = {
    "413": _error("The body is over the size limit."),
    "415": _error("The body is not of the expected media type."),
    "429": _error("Too many failed credentials from this address.", "Retry-After"),
}
_ADMIN_DENIED = {
    "401": _error("No or a wrong admin token.", "WWW-Authenticate"),
    "403": _error("The admin API is disabled, or the caller is not an admin."),
    "429": _LIMITED["429"],
}
_UNAVAILABLE = {"503": _error("The rule store or the key source is unavailable.", "Retry-After")}


def _auth_operation(method: str, path_param: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"forward_auth_{method}" + ("_path" if path_param else ""),
        "summary": "Forward-auth: is the bearer token genuine, valid now and not revoked?",
        "security": [{"tokenBearer": []}, {}],
        "responses": {
            "200": {
                **_json("Allowed; identity headers for the upstream.", "AuthResult"),
                "headers": {
                    name: {"$ref": f"#/components/headers/{name}"} for name in IDENTITY_HEADERS
                },
            },
            "401": {
                **_json("Denied, or no token.", "AuthResult"),
                "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}},
            },
        },
    }
    if path_param:
        operation["parameters"] = [
            {
                "name": "path",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1},
                "description": "Any path: the gateway's original one, if it sends it.",
            }
        ]
    return operation


def _form_body() -> dict[str, Any]:
    return {"required": True, "content": {_FORM: {"schema": ref("TokenForm")}}}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    parameter = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


_PAGE = {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}

_PATHS: dict[str, Any] = {
    "/auth": {method: _auth_operation(method, False) for method in _AUTH_METHODS},
    "/auth/{path}": {method: _auth_operation(method, True) for method in _AUTH_METHODS},
    "/introspect": {
        "post": {
            "operationId": "introspect",
            "summary": "RFC 7662 token introspection.",
            "security": [{"adminBearer": []}, {"clientBasic": []}],
            "requestBody": _form_body(),
            "responses": {
                "200": _json('Active (with claims) or exactly {"active": false}.', "Introspection"),
                "400": _error("A missing token or a malformed form."),
                "401": _error("No or wrong credentials.", "WWW-Authenticate"),
                **_LIMITED,
            },
        }
    },
    "/revoke": {
        "post": {
            "operationId": "revoke",
            "summary": "RFC 7009 token revocation: the bearer's own token, or any for an admin.",
            "security": [{}, {"tokenBearer": []}, {"adminBearer": []}, {"clientBasic": []}],
            "requestBody": _form_body(),
            "responses": {
                "200": {"description": "Revoked, or the token was invalid (RFC 7009 §2.2)."},
                "400": _error("invalid_request, or unsupported_token_type (a refresh token)."),
                "401": _error("Wrong credentials.", "WWW-Authenticate"),
                **_LIMITED,
                **_UNAVAILABLE,
            },
        }
    },
    "/admin/rules": {
        "post": {
            "operationId": "create_rule",
            "summary": "Create a revocation rule of any kind.",
            "security": [{"adminBearer": []}],
            "requestBody": {"required": True, "content": {_JSON: {"schema": ref("NewRule")}}},
            "responses": {
                "201": _json("The rule, durable in the store.", "RuleAnswer"),
                "400": _error("Bad JSON, an unknown field or kind, or an invalid rule."),
                **_ADMIN_DENIED,
                "413": _LIMITED["413"],
                "415": _LIMITED["415"],
                **_UNAVAILABLE,
            },
        },
        "get": {
            "operationId": "list_rules",
            "summary": "List rules (filters combine), oldest first, one page at a time.",
            "security": [{"adminBearer": []}],
            "parameters": [
                _query("kind", {"type": "string", "enum": [kind.value for kind in RuleKind]}),
                _query("value", STRING),
                _query("issuer", STRING),
                _query("include_expired", {"type": "boolean", "default": False}),
                _query("limit", _PAGE),
                _query("offset", {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}),
            ],
            "responses": {
                "200": _json("One page of rules.", "RuleList"),
                "400": _error("A bad filter or page parameter."),
                **_ADMIN_DENIED,
                **_UNAVAILABLE,
            },
        },
    },
    "/admin/rules/{rule_id}": {
        "get": {
            "operationId": "get_rule",
            "summary": "One rule, active or expired but not yet pruned.",
            "security": [{"adminBearer": []}],
            "parameters": [{"name": "rule_id", "in": "path", "required": True, "schema": STRING}],
            "responses": {
                "200": _json("The rule.", "RuleAnswer"),
                "404": _error("No stored rule has this id."),
                **_ADMIN_DENIED,
                **_UNAVAILABLE,
            },
        },
        "delete": {
            "operationId": "lift_rule",
            "summary": "Lift a rule: tokens it matched are allowed again.",
            "security": [{"adminBearer": []}],
            "parameters": [
                {"name": "rule_id", "in": "path", "required": True, "schema": STRING},
                _query("reason", {"type": "string", "maxLength": 1024}, "Why (audited)."),
            ],
            "responses": {
                "200": _json("The lifted rule.", "RuleAnswer"),
                "400": _error("A bad parameter."),
                "404": _error("No active rule has this id."),
                **_ADMIN_DENIED,
                **_UNAVAILABLE,
            },
        },
    },
    "/admin/audit": {
        "get": {
            "operationId": "audit",
            "summary": "The audit log: who revoked or lifted what, when and why.",
            "security": [{"adminBearer": []}],
            "parameters": [
                _query("limit", _PAGE),
                _query("since_seq", {"type": "integer", "minimum": 0}, "Entries after this seq."),
            ],
            "responses": {
                "200": _json("Audit entries, oldest first.", "AuditList"),
                "400": _error("A bad parameter."),
                **_ADMIN_DENIED,
                **_UNAVAILABLE,
            },
        }
    },
    "/admin/check": {
        "post": {
            "operationId": "check",
            "summary": "Decide on a token: allowed or not, the reason code, the rule, the claims.",
            "security": [{"adminBearer": []}],
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": ref("CheckRequest")}},
            },
            "responses": {
                "200": _json("The decision.", "CheckResult"),
                "400": _error("Bad JSON or no token."),
                **_ADMIN_DENIED,
                "413": _LIMITED["413"],
                "415": _LIMITED["415"],
            },
        }
    },
    "/backchannel-logout": {
        "post": {
            "operationId": "backchannel_logout",
            "summary": "OIDC Back-Channel Logout 1.0: the provider's logout token ends a session.",
            "security": [{}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["logout_token"],
                            "properties": {"logout_token": STRING},
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "The session or subject rule is durable (or was already)."},
                "400": _error("The logout token was refused (§2.6), or the form is malformed."),
                "404": _error("Back-channel logout is turned off."),
                "413": _LIMITED["413"],
                "415": _LIMITED["415"],
                **_UNAVAILABLE,
            },
        }
    },
    "/ssf/events": {
        "post": {
            "operationId": "ssf_events",
            "summary": "RFC 8935 push of one Shared Signals SET (CAEP, RISC) from a trusted "
            "transmitter: its event becomes a rule.",
            "security": [{"pushBearer": []}],
            "requestBody": {
                "required": True,
                "content": {"application/secevent+jwt": {"schema": STRING}},
            },
            "responses": {
                "202": {
                    "description": "Accepted: the rule is durable (or was already, or the "
                    "event makes none)."
                },
                "400": _set_error(),
                "404": _error("Shared Signals are off: no transmitter is trusted."),
                "413": _LIMITED["413"],
                "429": _LIMITED["429"],
                **_UNAVAILABLE,
            },
        }
    },
    "/global-token-revocation": {
        "post": {
            "operationId": "global_token_revocation",
            "summary": "Global Token Revocation (draft-parecki-oauth-global-token-revocation): "
            "every token of the user a sub_id names, until now, is revoked.",
            "security": [{"gtrBearer": []}],
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": ref("GlobalTokenRevocation")}},
            },
            "responses": {
                "204": {"description": "The user's cut-off is durable."},
                "400": _error("A malformed request, or a subject format naming no user."),
                "401": _error("No or a wrong credential.", "WWW-Authenticate"),
                "403": _error("The caller may not revoke that issuer's users."),
                "404": _error("Global Token Revocation is off."),
                "413": _LIMITED["413"],
                "422": _error("The subject cannot become a rule."),
                "429": _LIMITED["429"],
                **_UNAVAILABLE,
            },
        }
    },
    "/healthz": {
        "get": {
            "operationId": "healthz",
            "summary": "The process answers.",
            "responses": {"200": _json("Alive.", "Health")},
        }
    },
    "/readyz": {
        "get": {
            "operationId": "readyz",
            "summary": "The replica of the rules is fresh.",
            "responses": {
                "200": _json("Ready.", "Ready"),
                "503": _json("The replica is stale: checks deny.", "Ready"),
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics.",
            "responses": {
                "200": {
                    "description": "Prometheus text format.",
                    "content": {"text/plain": {"schema": STRING}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.0.",
                    "content": {_JSON: {"schema": {"type": "object"}}},
                }
            },
        }
    },
}


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0 document; a configured cookie shows as one more way to send the token."""
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "revoker",
            "version": "1",
            "description": "JWT verification with real revocation: forward-auth, RFC 7662 "
            "introspection, RFC 7009 revocation, an admin API, and provider signals "
            "(back-channel logout, Shared Signals, Global Token Revocation).",
        },
        "paths": copy.deepcopy(_PATHS),
        "components": {
            "schemas": SCHEMAS,
            "headers": HEADERS,
            "securitySchemes": dict(SECURITY_SCHEMES),
        },
    }
    cookie = settings.cookie_name if settings is not None else None
    if cookie:
        document["components"]["securitySchemes"]["tokenCookie"] = {
            "type": "apiKey",
            "in": "cookie",
            "name": cookie,
        }
        for path in ("/auth", "/auth/{path}"):
            for operation in document["paths"][path].values():
                operation["security"].insert(1, {"tokenCookie": []})
    return document
