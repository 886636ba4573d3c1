"""Fixtures for tests against a real OpenID provider (panva's oidc-provider, see README.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from oidc_peer import LogoutReceiver, OidcProvider


@pytest.fixture(scope="session")
def logout_receiver() -> Iterator[LogoutReceiver]:
    """One loopback back-channel logout endpoint for the session, recording what it gets."""
    with LogoutReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def oidc_provider(logout_receiver: LogoutReceiver) -> Iterator[OidcProvider]:
    """One provider for the session; every client's back-channel logout goes to the receiver."""
    with OidcProvider(backchannel_logout_uri=logout_receiver.url) as provider:
        yield provider


@pytest.fixture
def new_oidc_provider() -> Iterator[Callable[..., OidcProvider]]:
    """``new_oidc_provider(**options)``: a provider of this test's own, stopped at its end.

    Its port is bound at once (``provider.issuer`` is known) but node starts only at
    ``provider.start(backchannel_logout_uri=...)``, so a service under test can be started
    with the issuer first and the provider pointed at the service's URL second.
    """
    with ExitStack() as stack:

        def new(**options: Any) -> OidcProvider:
            provider = OidcProvider(**options)
            stack.callback(provider.stop)
            return provider

        yield new
