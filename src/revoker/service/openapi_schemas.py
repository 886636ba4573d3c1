"""The reusable parts of ``/openapi.json``: schemas, headers and security schemes."""

from __future__ import annotations

from typing import Any

from revoker.core.errors import REASONS
from revoker.core.registry import RuleKind
from revoker.service.forward_auth import IDENTITY_HEADERS, INTERNAL_ERROR
from revoker.service.metrics import MISSING_TOKEN

__all__ = ["HEADERS", "SCHEMAS", "SECURITY_SCHEMES", "STRING", "ref"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_NUMBER = {"type": "number"}
_TIME = {
    "oneOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
    "nullable": True,
    "description": "Epoch seconds, 'now', or ISO 8601 (UTC when no zone is given).",
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": STRING, "error_description": STRING},
    },
    "AuthResult": {
        "type": "object",
        "required": ["allowed", "reason"],
        "properties": {
            "allowed": {"type": "boolean"},
            "reason": {"type": "string", "enum": [*REASONS, MISSING_TOKEN, INTERNAL_ERROR]},
        },
    },
    "Introspection": {
        "oneOf": [
            {
                "type": "object",
                "required": ["active"],
                "additionalProperties": False,
                "properties": {"active": {"type": "boolean", "enum": [False]}},
            },
            {
                "type": "object",
                "required": ["active", "token_type"],
                "additionalProperties": True,
                "properties": {
                    "active": {"type": "boolean", "enum": [True]},
                    "token_type": STRING,
                    "client_id": STRING,
                    "username": STRING,
                    "scope": STRING,
                    "sub": STRING,
                    "iss": STRING,
                    "jti": STRING,
                    "exp": _NUMBER,
                    "iat": _NUMBER,
                    "nbf": _NUMBER,
                },
            },
        ]
    },
    "Rule": {
        "type": "object",
        "required": ["id", "kind", "value", "actor", "created_at"],
        "properties": {
            "id": STRING,
            "kind": {"type": "string", "enum": [kind.value for kind in RuleKind]},
            "value": STRING,
            "issuer": _NULLABLE_STRING,
            "cutoff": {"type": "number", "nullable": True},
            "expires_at": {"type": "number", "nullable": True},
            "reason": STRING,
            "actor": STRING,
            "created_at": _NUMBER,
        },
    },
    "RuleAnswer": {
        "type": "object",
        "required": ["rule"],
        "properties": {"rule": ref("Rule")},
    },
    "NewRule": {
        "type": "object",
        "required": ["kind", "value"],
        "additionalProperties": False,
        "properties": {
            "kind": {"type": "string", "enum": [kind.value for kind in RuleKind]},
            "value": {"type": "string", "minLength": 1, "maxLength": 1024},
            "issuer": _NULLABLE_STRING,
            "cutoff": _TIME,
            "expires_at": _TIME,
            "reason": {"type": "string", "maxLength": 1024},
        },
    },
    "RuleList": {
        "type": "object",
        "required": ["rules", "limit", "offset"],
        "properties": {
            "rules": {"type": "array", "items": ref("Rule")},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "AuditEntry": {
        "type": "object",
        "required": ["seq", "at", "actor", "action", "rule_id", "kind", "value", "reason"],
        "properties": {
            "seq": {"type": "integer"},
            "at": _NUMBER,
            "actor": STRING,
            "action": {"type": "string", "enum": ["revoke", "lift"]},
            "rule_id": STRING,
            "kind": STRING,
            "value": STRING,
            "reason": STRING,
        },
    },
    "AuditList": {
        "type": "object",
        "required": ["entries"],
        "properties": {"entries": {"type": "array", "items": ref("AuditEntry")}},
    },
    "CheckRequest": {
        "type": "object",
        "required": ["token"],
        "additionalProperties": False,
        "properties": {"token": {"type": "string", "minLength": 1}},
    },
    "CheckResult": {
        "type": "object",
        "required": ["allowed", "reason", "rule", "claims"],
        "properties": {
            "allowed": {"type": "boolean"},
            "reason": STRING,
            "detail": STRING,
            "rule": {"allOf": [ref("Rule")], "nullable": True},
            "claims": {"type": "object", "nullable": True, "additionalProperties": True},
        },
    },
    "TokenForm": {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {"type": "string", "minLength": 1},
            "token_type_hint": STRING,
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": STRING}},
    "Ready": {
        "type": "object",
        "required": ["status", "replica_lag_seconds", "replica_seq", "rules"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "stale"]},
            "replica_lag_seconds": {"type": "number", "nullable": True},
            "replica_seq": {"type": "integer"},
            "rules": {"type": "integer"},
            "signals": {"type": "array", "items": ref("SignalSource")},
        },
    },
    "SignalSource": {
        "type": "object",
        "description": "A Shared Signals source: a transmitter's pushes, or one poll stream.",
        "required": ["kind", "name", "delivery", "healthy", "events"],
        "properties": {
            "kind": STRING,
            "name": STRING,
            "delivery": {"type": "string", "enum": ["push", "poll"]},
            "transmitter": _NULLABLE_STRING,
            "stream_id": _NULLABLE_STRING,
            "healthy": {"type": "boolean"},
            "events": {"type": "integer"},
            "last_event_at": {"type": "number", "nullable": True},
            "last_error_at": {"type": "number", "nullable": True},
            "last_error": _NULLABLE_STRING,
            "stream_status": _NULLABLE_STRING,
            "verified_at": {"type": "number", "nullable": True},
            "last_poll_at": {"type": "number", "nullable": True},
        },
    },
    "SetError": {
        "type": "object",
        "required": ["err"],
        "properties": {
            "err": {
                "type": "string",
                "enum": [
                    "invalid_request",
                    "invalid_key",
                    "invalid_issuer",
                    "invalid_audience",
                    "authentication_failed",
                    "access_denied",
                    "invalid_state",
                ],
            },
            "description": STRING,
        },
    },
    "GlobalTokenRevocation": {
        "type": "object",
        "required": ["sub_id"],
        "properties": {
            "sub_id": {
                "type": "object",
                "description": "An RFC 9493 subject identifier: iss_sub, email, opaque, a "
                "complex subject's user, or aliases.",
                "required": ["format"],
                "properties": {"format": STRING},
            }
        },
    },
}

HEADERS: dict[str, Any] = {
    "WWW-Authenticate": {"description": "The challenge (RFC 6750 / RFC 7617).", "schema": STRING},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": STRING},
    **{
        name: {"description": "Identity of the allowed token.", "schema": STRING}
        for name in IDENTITY_HEADERS
    },
}

SECURITY_SCHEMES = {
    "adminBearer": {"type": "http", "scheme": "bearer", "description": "The admin token."},
    "clientBasic": {"type": "http", "scheme": "basic", "description": "An introspection client."},
    "tokenBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "pushBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The push token a transmitter sends with each SET (--ssf-push-token).",
    },
    "gtrBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "--gtr-token, or a JWT signed by a --gtr-issuer (RFC 7523 style).",
    },
}
