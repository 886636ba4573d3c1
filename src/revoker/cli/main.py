"""The ``revoker`` command.

Every option can also come from a ``REVOKER_*`` environment variable and from
``revoker.toml`` (``--config``); the command line wins over the environment,
which wins over the file. Errors print one line and exit non-zero: 1 for a
denied token or a failed operation, 2 for bad usage or configuration.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import math
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from revoker.cli.options import core_settings, store_option, verification_options
from revoker.core.errors import RevokerError

if TYPE_CHECKING:
    from revoker.core.registry import Registry, Rule


EXIT_DENIED = 1
EXIT_USAGE = 2


class RevokerGroup(click.Group):
    """Turns any revoker error into one line on stderr and its own exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RevokerError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except ValueError as exc:  # InvalidRule and other bad values
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)


def _load_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    path = Path(value) if value else Path("revoker.toml")
    if not path.exists():
        if value:
            raise click.BadParameter(f"{path} does not exist")
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}") from exc
    section = data.get("revoker", data)
    # Keys use the flag names with underscores; each command sees all of them.
    defaults = {k.replace("-", "_"): v for k, v in section.items()}
    ctx.default_map = dict.fromkeys(("check", "serve", "revoke", "lift", "rules"), defaults)
    ctx.default_map.update({"audit": defaults, "prune": defaults, "issuer": defaults})
    return value


@click.group(cls=RevokerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    callback=_load_config,
    is_eager=True,
    expose_value=False,
    envvar="REVOKER_CONFIG",
    help="A revoker.toml to read defaults from (default: ./revoker.toml when present).",
)
@click.version_option(package_name="revoker")
def main() -> None:
    """revoker: JWT verification with real revocation."""


# --- helpers ---------------------------------------------------------------------


def _quiet_driver_logs() -> None:
    # A one-shot command reports a store failure as its own one line; the drivers'
    # reconnect warnings (psycopg's pool logs every attempt) would bury it.
    for name in ("psycopg", "redis", "botocore"):
        logging.getLogger(name).setLevel(logging.ERROR)


def open_registry(store_url: str) -> Registry:
    from revoker.core.registry import Registry, open_store  # noqa: PLC0415 - keep --help fast

    _quiet_driver_logs()
    registry = Registry(open_store(store_url))
    registry.sync()
    return registry


def parse_time(value: str) -> float:
    """``now``, epoch seconds, or an ISO 8601 time (UTC when no zone is given)."""
    text = value.strip()
    if text.lower() == "now":
        return dt.datetime.now(dt.UTC).timestamp()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number) or number < 0:
            raise click.BadParameter(f"{value!r} is not a time")
        return number
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a time (use 'now', epoch seconds or ISO 8601)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _iso(ts: float | None) -> str:
    if ts is None:
        return "never"
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _echo_rule(rule: Rule, *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rule.to_dict(), sort_keys=True))
        return
    cutoff = f" cutoff={_iso(rule.cutoff)}" if rule.cutoff is not None else ""
    click.echo(
        f"{rule.id}  {rule.kind}  {rule.value}  issuer={rule.issuer or '*'}{cutoff}"
        f"  expires={_iso(rule.expires_at)}  actor={rule.actor}  reason={rule.reason!r}"
    )


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _read_token(token: str) -> str:
    if token == "-":
        token = sys.stdin.readline()
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    return token


# --- commands ------------------------------------------------------------------


@main.command()
@click.argument("token")
@verification_options
@store_option
@click.option(
    "--no-revocation",
    is_flag=True,
    help="Verify only: do not consult the store (stateless, like plain JWT libraries).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def check(token: str, store_url: str, no_revocation: bool, as_json: bool, **options: Any) -> None:
    """Verify TOKEN ('-' reads stdin), match the store's rules, and report the decision:
    exit 0 allowed, 1 denied."""
    from revoker.app.settings import build_verifier  # noqa: PLC0415
    from revoker.core.authorizer import Authorizer  # noqa: PLC0415

    settings = core_settings(options, store_url=store_url)
    registry = None if no_revocation else open_registry(store_url)
    authorizer = Authorizer(build_verifier(settings), registry)
    decision = authorizer.check(_read_token(token))
    claims = dict(decision.claims) if decision.claims is not None else None
    if as_json:
        payload: dict[str, Any] = {"allowed": decision.allowed, "reason": decision.reason}
        payload["claims"] = claims
        payload["rule"] = decision.rule.to_dict() if decision.rule else None
        click.echo(json.dumps(payload, sort_keys=True))
    else:
        click.echo(f"decision: {'allowed' if decision.allowed else 'denied'}")
        click.echo(f"reason:   {decision.reason}")
        if decision.rule is not None:
            click.echo(f"rule:     {decision.rule.id} ({decision.rule.kind} {decision.rule.value})")
        if claims is not None:
            click.echo("claims:")
            for name, value in sorted(claims.items()):
                click.echo(f"  {name}: {json.dumps(value)}")
    if registry is not None:
        registry.close()
    sys.exit(0 if decision.allowed else EXIT_DENIED)


@main.command()
@click.argument(
    "kind",
    type=click.Choice(["token", "family", "session", "subject", "client", "key", "issuer"]),
)
@click.argument("value")
@click.option(
    "--cutoff",
    help="Tokens issued at or before this time match (subject, client, "
    "issuer kinds; default now). 'now', epoch seconds or ISO 8601.",
)
@click.option("--expires-at", help="When the rule may be pruned (default: derived from the kind).")
@click.option("--issuer", "scope_issuer", help="Scope the rule to tokens of this issuer.")
@click.option("--reason", default="", help="Why: kept in the rule and the audit log.")
@click.option("--actor", default=None, help="Who: default cli:$USER.")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the rule as JSON.")
def revoke(
    *,
    kind: str,
    value: str,
    cutoff: str | None,
    expires_at: str | None,
    scope_issuer: str | None,
    reason: str,
    actor: str | None,
    store_url: str,
    as_json: bool,
) -> None:
    """Revoke every token that matches KIND VALUE, and print the rule."""
    from revoker.core.registry import RuleKind  # noqa: PLC0415

    registry = open_registry(store_url)
    with registry:
        rule = registry.revoke(
            RuleKind(kind),
            value,
            issuer=scope_issuer,
            cutoff=parse_time(cutoff) if cutoff else None,
            expires_at=parse_time(expires_at) if expires_at else None,
            reason=reason,
            actor=actor or _default_actor(),
        )
    _echo_rule(rule, as_json=as_json)


@main.command()
@click.argument("rule_id")
@click.option("--reason", default="", help="Why the rule is lifted (audited).")
@click.option("--actor", default=None, help="Who: default cli:$USER.")
@store_option
@click.option("--json", "as_json", is_flag=True)
def lift(rule_id: str, reason: str, actor: str | None, store_url: str, as_json: bool) -> None:
    """Lift rule RULE_ID: tokens it matched are allowed again."""
    registry = open_registry(store_url)
    with registry:
        rule = registry.lift(rule_id, actor=actor or _default_actor(), reason=reason)
    if not as_json:
        click.echo("lifted:")
    _echo_rule(rule, as_json=as_json)


@main.command()
@click.option("--kind", type=click.Choice(["token", "family", "session", "subject", "client",
              "key", "issuer"]))  # fmt: skip
@click.option("--value")
@click.option("--issuer", "scope_issuer")
@click.option("--include-expired", is_flag=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def rules(
    *,
    kind: str | None,
    value: str | None,
    scope_issuer: str | None,
    include_expired: bool,
    limit: int,
    offset: int,
    store_url: str,
    as_json: bool,
) -> None:
    """List the active rules (filters combine)."""
    from revoker.core.registry import RuleFilter, RuleKind  # noqa: PLC0415

    registry = open_registry(store_url)
    with registry:
        found = registry.rules(
            RuleFilter(
                kind=RuleKind(kind) if kind else None,
                value=value,
                issuer=scope_issuer,
                include_expired=include_expired,
                limit=limit,
                offset=offset,
            )
        )
    for rule in found:
        _echo_rule(rule, as_json=as_json)
    if not found and not as_json:
        click.echo("no rules", err=True)


@main.command()
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--since", "since_seq", type=click.IntRange(0), default=0,
              help="Only entries after this sequence number.")  # fmt: skip
@store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit(limit: int, since_seq: int, store_url: str, as_json: bool) -> None:
    """Show the audit log: who revoked or lifted what, when and why."""
    registry = open_registry(store_url)
    with registry:
        entries = registry.audit(limit=limit, since_seq=since_seq)
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry.to_dict(), sort_keys=True))
        else:
            click.echo(
                f"{entry.seq:>6}  {_iso(entry.at)}  {entry.action:<6}  {entry.kind:<8} "
                f"{entry.value}  by {entry.actor}  rule={entry.rule_id}  reason={entry.reason!r}"
            )


@main.command()
@store_option
def prune(store_url: str) -> None:
    """Delete rules past their expires_at."""
    registry = open_registry(store_url)
    with registry:
        count = registry.prune()
    click.echo(f"pruned {count} rule(s)")


@main.command()
@store_option
def migrate(store_url: str) -> None:
    """Create or upgrade the store's schema (PostgreSQL); other stores set themselves up."""
    from revoker.core.registry.migrations import migrate as run_migrations  # noqa: PLC0415

    _quiet_driver_logs()
    click.echo(run_migrations(store_url))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=9000, show_default=True)
@click.option(
    "--pool-id",
    default="us-east-1_RevokerDev",
    show_default=True,
    help="The user pool id in the issuer URL.",
)
@click.option("--client-id", default=None, help="The app client id (aud / client_id).")
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME:PASSWORD[:EMAIL[:GROUPS]]",
    help="A user (repeatable).",
)
@click.option(
    "--users-file",
    type=click.Path(exists=True, dir_okay=False),
    help="A JSON or TOML file of users.",
)
@click.option(
    "--access-lifetime",
    type=click.IntRange(60, 86_400),
    default=3600,
    show_default=True,
    help="Seconds.",
)
@click.option("--id-lifetime", type=click.IntRange(60, 86_400), default=3600,
              show_default=True, help="Seconds.")  # fmt: skip
def issuer(
    *,
    host: str,
    port: int,
    pool_id: str,
    client_id: str | None,
    users: tuple[str, ...],
    users_file: str | None,
    access_lifetime: int,
    id_lifetime: int,
) -> None:
    """Run a local Cognito-shaped issuer (discovery, JWKS, InitiateAuth, RevokeToken)."""
    from revoker import devissuer  # noqa: PLC0415 - only this command runs it

    people = [devissuer.parse_user_flag(text) for text in users]
    if users_file:
        people.extend(devissuer.load_users(users_file))
    if not people:
        people = [devissuer.parse_user_flag("alice:alice-password:alice@example.com")]
    extra: dict[str, Any] = {}
    if client_id:
        extra["client_id"] = client_id
    devissuer.run_issuer(
        host=host,
        port=port,
        users=people,
        pool_id=pool_id,
        access_lifetime_seconds=access_lifetime,
        id_lifetime_seconds=id_lifetime,
        **extra,
    )


@main.command()
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Store for the demo's rules (default: a fresh SQLite file in a temp dir).",
)
def demo(store_url: str | None) -> None:  # fmt: skip
    """The seed's scenario end to end: logout that really logs out. Exit 0 if every step held."""
    from revoker.cli.demo import run_demo  # noqa: PLC0415

    sys.exit(0 if run_demo(store_url=store_url) else EXIT_DENIED)


def _attach_serve() -> None:
    # The command module imports only click; the service's framework loads when it runs.
    from revoker.cli.serve import serve  # noqa: PLC0415 - after main exists

    main.add_command(serve)


_attach_serve()

if __name__ == "__main__":  # pragma: no cover
    main()
