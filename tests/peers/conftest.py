"""Fixtures for tests against a real OpenID provider (panva's oidc-provider, see README.md).

A service under test meets the provider like this: the provider starts first (its clients'
back-channel logout goes to ``logout_receiver``), the service starts with ``provider.issuer``
(and loads its keys), and ``with logout_receiver.forwarding_to(f"{url}/backchannel-logout")``
hands each logout POST on to the service, answering the provider with the service's status.
"""

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
def new_oidc_provider(logout_receiver: LogoutReceiver) -> Iterator[Callable[..., OidcProvider]]:
    """``new_oidc_provider(**options)``: a started provider of this test's own, stopped at its end.

    Options are ``OidcProvider``'s (e.g. ``access_token_sid=True``); its back-channel logout
    goes to ``logout_receiver`` unless ``backchannel_logout_uri`` says otherwise.
    """
    with ExitStack() as stack:

        def new(**options: Any) -> OidcProvider:
            options.setdefault("backchannel_logout_uri", logout_receiver.url)
            return stack.enter_context(OidcProvider(**options))

        yield new
