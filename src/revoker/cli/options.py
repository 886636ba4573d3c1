"""Command-line options shared by `revoker check` and `revoker serve`, and how they
become ``Settings``: one definition, so the two commands cannot drift apart.

Imports only click and revoker's light modules (no web framework).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from revoker.app.settings import DEFAULT_STORE_URL, Settings
from revoker.core.errors import ConfigurationError

__all__ = ["core_settings", "split_values", "store_option", "verification_options"]

F = TypeVar("F", bound=Callable[..., Any])


def split_values(values: Iterable[str]) -> tuple[str, ...]:
    """Repeated flags, or comma-separated values from one environment variable."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def store_option(func: F) -> F:
    return click.option(
        "--store",
        "store_url",
        envvar="REVOKER_STORE",
        default=DEFAULT_STORE_URL,
        show_default=True,
        help="Rule store URL: memory://, sqlite:///path, redis://…, postgresql://…, dynamodb://….",
    )(func)


def verification_options(func: F) -> F:
    """--issuer, --jwks-url, --cognito-user-pool-id, --region, --audience, --token-use,
    --algorithm and --leeway, each with its REVOKER_* environment variable."""
    options = [
        click.option("--issuer", "issuers", multiple=True, envvar="REVOKER_ISSUER",
                     help="A trusted issuer (repeatable)."),
        click.option("--jwks-url", envvar="REVOKER_JWKS_URL",
                     help="Fetch keys here instead of by OIDC discovery."),
        click.option("--cognito-user-pool-id", envvar="REVOKER_COGNITO_USER_POOL_ID",
                     help="Trust this Cognito user pool (issuer and JWKS derived)."),
        click.option("--region", envvar=["REVOKER_REGION", "AWS_REGION"],
                     help="The Cognito pool's AWS region."),
        click.option("--audience", "audiences", multiple=True, envvar="REVOKER_AUDIENCE",
                     help="Accepted aud / client_id (repeatable); '*' skips the check."),
        click.option("--token-use", type=click.Choice(["id", "access", "any"]),
                     envvar="REVOKER_TOKEN_USE", default="any", show_default=True,
                     help="Accept ID tokens, access tokens, or both (as API Gateway does)."),
        click.option("--algorithm", "algorithms", multiple=True, envvar="REVOKER_ALGORITHMS",
                     help="Allowed signature algorithms (default RS256)."),
        click.option("--leeway", "leeway_seconds", type=click.FloatRange(0, 300), default=5.0,
                     show_default=True, envvar="REVOKER_LEEWAY_SECONDS",
                     help="Clock leeway, seconds."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def core_settings(
    options: dict[str, Any],
    *,
    extra_issuers: tuple[str, ...] = (),
    default_audiences: tuple[str, ...] = (),
    **fields: Any,
) -> Settings:
    """The verification options (as click passes them) as ``Settings``; ``fields`` add the rest.

    The audience has no silent default: without one, a one-line ``ConfigurationError``.
    """
    audiences = split_values(options.get("audiences") or ()) or default_audiences
    if not audiences:
        raise ConfigurationError(
            "give --audience CLIENT_ID (repeatable), or --audience '*' to skip the audience check"
        )
    return Settings(
        issuers=(*split_values(options.get("issuers") or ()), *extra_issuers),
        jwks_url=options.get("jwks_url"),
        cognito_user_pool_id=options.get("cognito_user_pool_id"),
        region=options.get("region"),
        audience=None if audiences == ("*",) else audiences,
        token_use=options.get("token_use") or "any",
        algorithms=split_values(options.get("algorithms") or ()) or ("RS256",),
        leeway_seconds=float(options.get("leeway_seconds", 5.0)),
        **fields,
    )
