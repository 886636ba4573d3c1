"""The revocation registry: rules, their matching, an in-memory replica and the stores.

``Registry`` is the front door: ``revoke``/``lift``/``rules``/``audit`` go to a
``RuleStore`` (``open_store("sqlite:///revoker.db")``), ``match`` reads the
replica. No store driver is imported until its URL is opened.
"""

from revoker.core.registry.registry import Registry
from revoker.core.registry.rules import InvalidRule, RegistryLimits, Rule, RuleKind, RuleNotFound
from revoker.core.registry.store import AuditEntry, Change, RuleFilter, RuleStore, open_store

__all__ = [
    "AuditEntry",
    "Change",
    "InvalidRule",
    "Registry",
    "RegistryLimits",
    "Rule",
    "RuleFilter",
    "RuleKind",
    "RuleNotFound",
    "RuleStore",
    "open_store",
]
