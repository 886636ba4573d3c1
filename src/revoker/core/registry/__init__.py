"""The revocation registry: rules, their matching, an in-memory replica and the stores.

``Registry`` is the front door: ``revoke``/``lift``/``rules``/``audit`` go to a
``RuleStore`` (``open_store("sqlite:///revoker.db")``), ``match`` reads the
replica. No store driver is imported until its URL is opened.
"""

from revoker.core.registry.registry import LIFETIME_SETTING, Registry, deterministic_rule_id
from revoker.core.registry.rules import (
    DuplicateRule,
    InvalidRule,
    RegistryLimits,
    Rule,
    RuleKind,
    RuleNotFound,
)
from revoker.core.registry.store import AuditEntry, Change, RuleFilter, RuleStore, open_store

__all__ = [
    "LIFETIME_SETTING",
    "AuditEntry",
    "Change",
    "DuplicateRule",
    "InvalidRule",
    "Registry",
    "RegistryLimits",
    "Rule",
    "RuleFilter",
    "RuleKind",
    "RuleNotFound",
    "RuleStore",
    "deterministic_rule_id",
    "open_store",
]
