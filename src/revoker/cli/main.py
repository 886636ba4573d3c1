"""The ``revoker`` command: a transport that turns commands into the application's operations.

Every setting option is generated from the settings declaration and can also
come from its ``REVOKER_*`` environment variable and from ``revoker.toml``
(``--config``); the command line wins over the environment, which wins over the
file. Errors print one line and exit non-zero: 1 for a denied token or a failed
operation, 2 for bad usage or configuration. Values printed for a person
(rules, audit lines, claims) have control characters escaped: a newline in a
rule's reason cannot forge an audit line, nor an escape sequence reach the
terminal.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import math
import sys
from typing import TYPE_CHECKING, Any

import click

from revoker.cli.options import CONFIG_KEY, setting_options, settings_from
from revoker.core.errors import RevokerError

if TYPE_CHECKING:
    from revoker.app.compose import Revoker
    from revoker.core.registry import Rule


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


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # The file is read (and checked) by each command's settings loader.
    if value:
        ctx.meta[CONFIG_KEY] = value


@click.group(cls=RevokerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    callback=_remember_config,
    is_eager=True,
    expose_value=False,
    help="A revoker.toml to read settings from (else REVOKER_CONFIG, else ./revoker.toml).",
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


def rules_revoker(options: dict[str, Any]) -> Revoker:
    """The registry of the configured store, synced, for commands that never verify."""
    from revoker.app.compose import Revoker  # noqa: PLC0415 - keep --help fast

    _quiet_driver_logs()
    revoker = Revoker.for_rules(settings_from(options))
    revoker.registry.sync()
    return revoker


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


def shown(text: str) -> str:
    """``text`` as a terminal may print it: control characters (newlines, escapes) escaped."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def _echo_rule(rule: Rule, *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rule.to_dict(), sort_keys=True))
        return
    cutoff = f" cutoff={_iso(rule.cutoff)}" if rule.cutoff is not None else ""
    click.echo(
        f"{rule.id}  {rule.kind}  {shown(rule.value)}  issuer={shown(rule.issuer or '*')}{cutoff}"
        f"  expires={_iso(rule.expires_at)}  actor={shown(rule.actor)}"
        f"  reason={shown(repr(rule.reason))}"
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
@setting_options("verification", names=("store_url",))
@click.option(
    "--no-revocation",
    is_flag=True,
    help="Verify only: do not consult the store (stateless, like plain JWT libraries).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def check(token: str, no_revocation: bool, as_json: bool, **options: Any) -> None:
    """Verify TOKEN ('-' reads stdin), match the store's rules, and report the decision:
    exit 0 allowed, 1 denied."""
    from revoker.app.compose import Revoker, build_verifier  # noqa: PLC0415
    from revoker.app.operations import Operations  # noqa: PLC0415
    from revoker.core.authorizer import Authorizer  # noqa: PLC0415

    settings = settings_from(options)
    if no_revocation:
        decision = Authorizer(build_verifier(settings)).check(_read_token(token))
    else:
        _quiet_driver_logs()
        with Revoker.from_settings(settings) as revoker:
            revoker.start(follow=False)
            decision = revoker.operations.check(_read_token(token))
    if as_json:
        click.echo(json.dumps(Operations.decision_document(decision), sort_keys=True))
    else:
        click.echo(f"decision: {'allowed' if decision.allowed else 'denied'}")
        click.echo(f"reason:   {decision.reason}")
        if decision.detail:
            click.echo(f"detail:   {shown(decision.detail)}")
        if decision.rule is not None:
            rule = decision.rule
            click.echo(f"rule:     {rule.id} ({rule.kind} {shown(rule.value)})")
        if decision.claims is not None:
            click.echo("claims:")
            for name, value in sorted(decision.claims.items()):
                click.echo(f"  {shown(name)}: {shown(json.dumps(value, ensure_ascii=False))}")
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
@setting_options(names=("store_url",))
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
    as_json: bool,
    **options: Any,
) -> None:
    """Revoke every token that matches KIND VALUE, and print the rule."""
    from revoker.app.operations import RuleEvent  # noqa: PLC0415

    body: dict[str, Any] = {"kind": kind, "value": value, "reason": reason}
    for name, given in (("cutoff", cutoff), ("expires_at", expires_at), ("issuer", scope_issuer)):
        if given is not None:
            body[name] = given
    with rules_revoker(options) as revoker:
        rule = revoker.operations.create_rule(
            body, actor=actor or _default_actor(), event=RuleEvent("cli")
        )
    _echo_rule(rule, as_json=as_json)


@main.command()
@click.argument("rule_id")
@click.option("--reason", default="", help="Why the rule is lifted (audited).")
@click.option("--actor", default=None, help="Who: default cli:$USER.")
@setting_options(names=("store_url",))
@click.option("--json", "as_json", is_flag=True)
def lift(rule_id: str, reason: str, actor: str | None, as_json: bool, **options: Any) -> None:
    """Lift rule RULE_ID: tokens it matched are allowed again."""
    with rules_revoker(options) as revoker:
        rule = revoker.operations.lift_rule(rule_id, reason=reason, actor=actor or _default_actor())
    if not as_json:
        click.echo("lifted:")
    _echo_rule(rule, as_json=as_json)


@main.command()
@click.option("--kind", type=click.Choice(["token", "family", "session", "subject", "email",
              "client", "key", "issuer"]))  # fmt: skip
@click.option("--value")
@click.option("--issuer", "scope_issuer")
@click.option("--include-expired", is_flag=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@setting_options(names=("store_url",))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def rules(
    *,
    kind: str | None,
    value: str | None,
    scope_issuer: str | None,
    include_expired: bool,
    limit: int,
    offset: int,
    as_json: bool,
    **options: Any,
) -> None:
    """List the active rules (filters combine)."""
    from revoker.core.registry import RuleFilter, RuleKind  # noqa: PLC0415

    with rules_revoker(options) as revoker:
        found = revoker.registry.rules(
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
@setting_options(names=("store_url",))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit(limit: int, since_seq: int, as_json: bool, **options: Any) -> None:
    """Show the audit log: who revoked or lifted what, when and why."""
    with rules_revoker(options) as revoker:
        entries = revoker.registry.audit(limit=limit, since_seq=since_seq)
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry.to_dict(), sort_keys=True))
        else:
            click.echo(
                f"{entry.seq:>6}  {_iso(entry.at)}  {entry.action:<6}  {entry.kind:<8} "
                f"{shown(entry.value)}  by {shown(entry.actor)}  rule={shown(entry.rule_id)}"
                f"  reason={shown(repr(entry.reason))}"
            )


@main.command()
@setting_options(names=("store_url",))
def prune(**options: Any) -> None:
    """Delete rules past their expires_at."""
    with rules_revoker(options) as revoker:
        count = revoker.registry.prune()
    click.echo(f"pruned {count} rule(s)")


@main.command("save-index")
@setting_options(names=("store_url",))
def save_index(**options: Any) -> None:
    """Build the compact index from the store's rules and save it there, so the replicas
    that start next load it instead of building it (after a bulk import, or before the
    first start of a large store; running replicas save one every index_snapshot_seconds)."""
    with rules_revoker(options) as revoker:
        replica = revoker.registry.replica
        seq = replica.save_index()
        count = replica.rule_count
    if seq is None:
        click.echo(
            f"nothing to save: {count} active rule(s) fit the dictionary index (the compact"
            " index, which is saved, starts at 250,000), or the store keeps no saved indexes"
        )
    else:
        click.echo(f"saved the index of {count} rule(s) at seq {seq}")


@main.command()
@setting_options(names=("store_url",))
@click.option(
    "--max-token-lifetime",
    "record_lifetime",
    help="Also record this maximum token lifetime (e.g. 2d) in the store: the lifetime every "
    "rule is written for and every verifier must stay within.",
)
def migrate(record_lifetime: str | None, **options: Any) -> None:
    """Create or upgrade the store's schema (PostgreSQL; DynamoDB's lookup items; Redis's
    snapshot records); other stores set themselves up. With --max-token-lifetime, change
    the lifetime the store records."""
    from revoker.app.migrate import migrate as run_migrations  # noqa: PLC0415

    _quiet_driver_logs()
    for line in run_migrations(settings_from(options), record_lifetime=record_lifetime):
        click.echo(line)


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
def demo(store_url: str | None) -> None:
    """The seed's scenario end to end: logout that really logs out. Exit 0 if every step held."""
    from revoker.cli.demo import run_demo  # noqa: PLC0415

    sys.exit(0 if run_demo(store_url=store_url) else EXIT_DENIED)


@main.command("settings")
@click.option("--markdown", is_flag=True, help="As the markdown tables the docs hold.")
@click.option(
    "--group",
    type=click.Choice(["verification", "registry", "service", "aws"]),
    help="Only this group's settings.",
)
def settings_command(markdown: bool, group: str | None) -> None:
    """Every setting: its revoker.toml key, environment variable, flag, default and meaning."""
    from revoker.app.settings import GROUPS, specs  # noqa: PLC0415
    from revoker.app.settings_docs import settings_table  # noqa: PLC0415

    for name, title in GROUPS.items():
        if group not in (None, name):
            continue
        if markdown:
            click.echo(f"### {title}\n\n{settings_table(name)}")
            continue
        click.echo(f"{title}:")
        for found in specs(name):
            flag = f" {found.flag}" if found.flag else ""
            click.echo(f"  {found.name} ({found.env[0]}{flag}): {found.help}")


def _attach_serve() -> None:
    # The command modules import only click; the service's framework loads when it runs.
    from revoker.cli.serve import serve  # noqa: PLC0415 - after main exists
    from revoker.cli.ssf import ssf  # noqa: PLC0415 - after main exists

    main.add_command(serve)
    main.add_command(ssf)


_attach_serve()

if __name__ == "__main__":  # pragma: no cover
    main()
