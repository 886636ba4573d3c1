"""``revoker serve``: the click command. Imports only click and revoker's light modules;
Starlette, uvicorn and prometheus-client load inside the command, when it runs.

Its options are generated from the settings declaration (the verification,
registry and service groups); each also comes from its ``REVOKER_*`` environment
variable and from ``revoker.toml``. The command line wins over the environment,
which wins over the file. A misconfiguration prints one line and exits 2 before
any port is bound.
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

import click

from revoker.cli.options import setting_options, settings_from
from revoker.core.errors import RevokerError

__all__ = ["serve"]


class _OneLineErrors(click.Command):
    """A bad flag or environment value: one line on stderr and exit 2, as any misconfiguration."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            ctx.exit(2)


@click.command(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@setting_options("verification", "signals", "registry", "service")
@click.option(
    "--check-config",
    is_flag=True,
    help="Validate the configuration (and reach the store), print it with secrets hidden, exit.",
)
def serve(check_config: bool, **options: Any) -> None:
    """Serve /auth (forward-auth), /introspect, /revoke, /admin, /healthz, /readyz, /metrics."""
    try:
        settings = settings_from(options)
        from revoker.service.runner import serve_forever  # noqa: PLC0415 - keep --help light

        serve_forever(
            settings, check_config=check_config, dev_admin_token=secrets.token_urlsafe(24)
        )
    except RevokerError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    serve()
