"""A Shared Signals transmitter's keys: the ``jwks_uri`` of its SSF configuration.

OpenID Shared Signals Framework 1.0 §7.2: a transmitter publishes its metadata at
its issuer with ``/.well-known/ssf-configuration`` inserted between the host and
the path (``https://tr.example.com/issuer1`` ->
``https://tr.example.com/.well-known/ssf-configuration/issuer1``); the document's
``issuer`` must be identical to that issuer (§7.2.3), and its ``jwks_uri`` names
the keys SETs are signed with (§4.1.4).

``TransmitterKeySource`` is a ``JwksSource`` that resolves through that document,
so a transmitter's keys live in a ``JwksCache`` like an issuer's: the same TTL,
the same shared fetch, the same unknown-``kid`` cooldown, cached keys serving
when a refetch fails. Every URL involved must be ``https``, or ``http`` on a
loopback host (a local transmitter, a test): a SET's signature is only as good
as the channel its keys came over.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from revoker.core.errors import ConfigurationError, JwksUnavailable
from revoker.core.jwks import JwksFetcher, JwksSource

__all__ = [
    "SSF_CONFIGURATION_PATH",
    "TransmitterKeySource",
    "is_loopback_url",
    "require_transmitter_url",
    "ssf_configuration_url",
    "usable_transmitter_url",
]

SSF_CONFIGURATION_PATH = "/.well-known/ssf-configuration"
_LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is a loopback address (``127.0.0.0/8``, ``::1``, localhost)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if host is None:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def usable_transmitter_url(url: object) -> bool:
    """An absolute ``https`` URL with a host and no query or fragment, or ``http`` on loopback."""
    if not isinstance(url, str) or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname or parts.query or parts.fragment or parts.username is not None:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and is_loopback_url(url)


def require_transmitter_url(url: str, what: str) -> None:
    """``ConfigurationError`` unless ``url`` is ``https`` (or ``http`` on loopback)."""
    if not usable_transmitter_url(url):
        raise ConfigurationError(
            f"{what} must be an https URL without query or fragment (http only on a loopback "
            f"host), not {url[:96]!r}"
        )


def ssf_configuration_url(issuer: str) -> str:
    """Where ``issuer`` publishes its SSF configuration (§7.2: the well-known path goes
    between the host and the issuer's path, whose trailing ``/`` is removed first)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{SSF_CONFIGURATION_PATH}{path}"


@dataclass(frozen=True, slots=True)
class TransmitterKeySource(JwksSource):
    """The keys of the transmitter ``transmitter``, found through its SSF configuration.

    ``on_configuration`` receives each configuration document that passed the checks
    (the receiver reads ``critical_subject_members`` from it).
    """

    transmitter: str = ""
    on_configuration: Callable[[Mapping[str, Any]], None] | None = field(
        default=None, compare=False
    )

    @classmethod
    def of(
        cls,
        transmitter: str,
        *,
        on_configuration: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> TransmitterKeySource:
        require_transmitter_url(transmitter, "the transmitter")
        return cls(transmitter=transmitter, on_configuration=on_configuration)

    def resolve(self, fetcher: JwksFetcher) -> str:
        """The ``jwks_uri`` of the transmitter's configuration, once the document holds."""
        url = ssf_configuration_url(self.transmitter)
        document = fetcher.fetch_json(url)
        if document.get("issuer") != self.transmitter:
            raise JwksUnavailable(
                "the SSF configuration names a different issuer than the transmitter"
            )
        jwks_uri = document.get("jwks_uri")
        if not usable_transmitter_url(jwks_uri):
            raise JwksUnavailable(
                "the SSF configuration has no usable jwks_uri (https, or http on loopback)"
            )
        assert isinstance(jwks_uri, str)  # noqa: S101 - usable_transmitter_url checked it
        if self.on_configuration is not None:
            self.on_configuration(document)
        return jwks_uri
