"""``revoker serve``: the click command. Imports only click and revoker's light modules;
Starlette, uvicorn and prometheus-client load inside the command, when it runs.

Every option also comes from a ``REVOKER_*`` environment variable and from
``revoker.toml`` (keys are the parameter names below: ``issuers``,
``audiences``, ``store_url``, ``admin_token`` …). The command line wins over the
environment, which wins over the file. A misconfiguration prints one line and
exits 2 before any port is bound.
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

import click

from revoker.app.settings import DEFAULT_STORE_URL
from revoker.cli.options import core_settings, split_values, verification_options
from revoker.core.authorizer import DEFAULT_CACHE_SIZE
from revoker.core.errors import RevokerError
from revoker.service.config import LOG_FORMATS, ServiceSettings, parse_client

__all__ = ["serve", "settings_from_options"]

DEV_ISSUER_PORT = 9000


def settings_from_options(
    options: dict[str, Any],
    *,
    dev_issuer: str | None = None,
    dev_client_id: str | None = None,
) -> ServiceSettings:
    """Options (as click passes them) to validated settings; a dev issuer is trusted too."""
    core = core_settings(
        options,
        extra_issuers=(dev_issuer,) if dev_issuer is not None else (),
        default_audiences=(dev_client_id,) if dev_issuer is not None and dev_client_id else (),
        store_url=options.get("store_url") or DEFAULT_STORE_URL,
        max_staleness_seconds=float(options.get("max_staleness_seconds", 30.0)),
        fail_open=bool(options.get("fail_open", False)),
        cache_size=int(options.get("cache_size", DEFAULT_CACHE_SIZE)),
    )
    return ServiceSettings(
        core=core,
        host=options.get("host") or "127.0.0.1",
        port=int(options.get("port", 8080)),
        workers=int(options.get("workers", 1)),
        admin_token=options.get("admin_token") or None,
        introspect_clients=tuple(
            parse_client(text) for text in split_values(options.get("introspect_clients") or ())
        ),
        cookie_name=options.get("cookie_name") or None,
        log_format=options.get("log_format") or "text",
        log_level=options.get("log_level") or "info",
        forwarded_allow_ips=options.get("forwarded_allow_ips") or None,
    )


class _OneLineErrors(click.Command):
    """A bad flag or environment value: one line on stderr and exit 2, as any misconfiguration."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            ctx.exit(2)


@click.command(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--host",
    envvar="REVOKER_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    envvar="REVOKER_PORT",
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@verification_options
@click.option(
    "--cache-size",
    type=click.IntRange(0, 10_000_000),
    default=DEFAULT_CACHE_SIZE,
    envvar="REVOKER_CACHE_SIZE",
    show_default=True,
    help="Verified tokens kept until their exp (0: verify every request).",
)
@click.option(
    "--store",
    "store_url",
    envvar="REVOKER_STORE",
    default=DEFAULT_STORE_URL,
    show_default=True,
    help="Rule store URL (sqlite:///path, redis://, postgresql://).",
)
@click.option(
    "--max-staleness",
    "max_staleness_seconds",
    type=click.FloatRange(0),
    envvar="REVOKER_MAX_STALENESS",
    default=30.0,
    show_default=True,
    help="Deny (registry_stale) when the rules are older than this, seconds.",
)
@click.option(
    "--fail-open",
    is_flag=True,
    envvar="REVOKER_FAIL_OPEN",
    help="Allow instead of denying while the rules are stale (not recommended).",
)
@click.option(
    "--admin-token",
    envvar="REVOKER_ADMIN_TOKEN",
    help="Bearer token for /admin and /introspect (prefer the env var). "
    "Without it the admin API is off.",
)
@click.option(
    "--introspect-client",
    "introspect_clients",
    multiple=True,
    envvar="REVOKER_INTROSPECT_CLIENTS",
    metavar="ID:SECRET",
    help="An introspection client for HTTP Basic (repeatable; env: comma-separated).",
)
@click.option(
    "--cookie-name",
    envvar="REVOKER_COOKIE_NAME",
    help="/auth also reads the token from this cookie.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    envvar="REVOKER_WORKERS",
    default=1,
    show_default=True,
    help="Worker processes.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    envvar="REVOKER_LOG_FORMAT",
    default="text",
    show_default=True,
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    envvar="REVOKER_LOG_LEVEL",
    default="info",
    show_default=True,
)
@click.option(
    "--forwarded-allow-ips",
    envvar="REVOKER_FORWARDED_ALLOW_IPS",
    help="Trust X-Forwarded-For from these proxy addresses (comma-separated).",
)
@click.option(
    "--dev-issuer",
    is_flag=True,
    envvar="REVOKER_DEV_ISSUER",
    help="Also run a local Cognito-shaped issuer and trust it (development only).",
)
@click.option(
    "--dev-issuer-port",
    type=click.IntRange(0, 65535),
    default=DEV_ISSUER_PORT,
    envvar="REVOKER_DEV_ISSUER_PORT",
    show_default=True,
)
@click.option(
    "--check-config",
    is_flag=True,
    help="Validate the configuration, print it (secrets hidden) and exit.",
)
def serve(**options: Any) -> None:  # fmt: skip
    """Serve /auth (forward-auth), /introspect, /revoke, /admin, /healthz, /readyz, /metrics."""
    from revoker.service.runner import serve_forever  # noqa: PLC0415 - keep --help and the CLI light

    try:
        serve_forever(options, dev_admin_token=secrets.token_urlsafe(24))
    except RevokerError as exc:
        click.echo(f"error: {' '.join(str(exc).split())}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    serve()
