"""``revoker ssf``: the streams revoker has with Shared Signals transmitters (SSF 1.0 §8).

- ``register TRANSMITTER (--push-url URL | --poll)``: read the transmitter's
  ``/.well-known/ssf-configuration``, create a stream at its ``configuration_endpoint``
  (push: our ``/ssf/events`` URL and the push token as its authorization header; poll:
  the transmitter names the endpoint), requesting the events revoker acts on, check
  the answer's ``iss`` and ``aud``, and record the stream in the stream file;
- ``status [TRANSMITTER]``: each recorded stream as the transmitter sees it now
  (configuration and status) and as recorded here (the last verification);
- ``verify STREAM_ID``: ask for a verification event with a fresh ``state`` and wait,
  bounded, until the service that receives the stream records the state echoed back;
- ``delete STREAM_ID``: delete the stream at the transmitter and here.

The transmitter is called with ``--ssf-transmitter-token`` as a bearer. Settings come
as for every command: flags, ``REVOKER_*`` variables, ``revoker.toml``. Exit codes: 0
done, 1 the transmitter refused or the verification did not come back, 2 usage.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

import click

from revoker.cli.options import setting_options, settings_from
from revoker.core.errors import ConfigurationError

if TYPE_CHECKING:
    from revoker.app.settings import Settings
    from revoker.app.signals.streams import StreamBook, StreamRecord
    from revoker.app.signals.transmitter import TransmitterClient

__all__ = ["ssf"]

_OPTIONS = ("ssf_transmitters", "ssf_audience", "ssf_push_token", "ssf_transmitter_token",
            "ssf_streams_file", "audience")  # fmt: skip


@click.group()
def ssf() -> None:
    """Shared Signals streams: register, status, verify, delete."""


def _transmitter(settings: Settings, given: str | None) -> str:
    if given is not None:
        return given
    if len(settings.ssf_transmitters) == 1:
        return settings.ssf_transmitters[0]
    raise click.UsageError("name the transmitter (or configure exactly one --ssf-transmitter)")


def _client(settings: Settings, transmitter: str) -> TransmitterClient:
    from revoker.app.signals.transmitter import TransmitterClient  # noqa: PLC0415
    from revoker.core.transmitter_keys import require_transmitter_url  # noqa: PLC0415

    require_transmitter_url(transmitter, "the transmitter")
    return TransmitterClient(transmitter, token=settings.ssf_transmitter_token)


def _book(settings: Settings) -> StreamBook:
    from revoker.app.signals.streams import StreamBook  # noqa: PLC0415

    return StreamBook(settings.ssf_streams_file)


def _hidden(live: dict[str, Any] | None) -> dict[str, Any] | None:
    """The transmitter's view with any ``authorization_header`` it echoes replaced: that is
    the push token, which is never printed."""
    if live is None:
        return None
    stream = dict(live.get("stream") or {})
    delivery = stream.get("delivery")
    if isinstance(delivery, dict) and "authorization_header" in delivery:
        stream["delivery"] = {**delivery, "authorization_header": "***"}
    return {**live, "stream": stream}


def _echo_stream(
    record: StreamRecord, *, as_json: bool, live: dict[str, Any] | None = None
) -> None:
    if as_json:
        view = _hidden(live)
        click.echo(json.dumps({**record.to_json(), "transmitter_view": view}, sort_keys=True))
        return
    verification = record.verification
    verified = (
        "never asked"
        if verification is None
        else "verified"
        if verification.verified_at is not None
        else "asked, not yet seen"
    )
    click.echo(f"{record.stream_id}  {record.method}  {record.transmitter}")
    click.echo(f"  endpoint: {record.endpoint_url}")
    click.echo(f"  events delivered: {', '.join(record.events_delivered) or '(none named)'}")
    click.echo(f"  aud: {', '.join(record.aud) or '(none named)'}  verification: {verified}")
    if live is not None:
        status = live.get("status", {})
        click.echo(f"  status at the transmitter: {status.get('status', '?')}"
                   + (f" ({status['reason']})" if status.get("reason") else ""))  # fmt: skip


@ssf.command()
@click.argument("transmitter", required=False)
@click.option("--push-url", help="Our POST /ssf/events URL, as the transmitter reaches it.")
@click.option("--poll", is_flag=True, help="Poll the transmitter (RFC 8936) instead.")
@click.option("--event", "events", multiple=True,
              help="An event type URI to request (repeatable; default: every event revoker "
                   "applies).")  # fmt: skip
@click.option("--description", default="revoker", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the stream as JSON.")
@setting_options(names=_OPTIONS)
def register(
    transmitter: str | None, push_url: str | None, *, poll: bool, events: tuple[str, ...],
    description: str, as_json: bool, **options: Any,
) -> None:  # fmt: skip
    """Create a stream at TRANSMITTER and record it (see `revoker ssf --help`)."""
    from revoker.app.signals.events import APPLIED_EVENTS  # noqa: PLC0415
    from revoker.app.signals.streams import POLL, PUSH, StreamRecord  # noqa: PLC0415
    from revoker.core.transmitter_keys import require_transmitter_url  # noqa: PLC0415

    settings = settings_from(options)
    issuer = _transmitter(settings, transmitter)
    if (push_url is None) == (not poll):
        raise click.UsageError("give --push-url URL (push delivery) or --poll")
    delivery: dict[str, Any] = {"method": POLL}
    if push_url is not None:
        require_transmitter_url(push_url, "--push-url")
        if settings.ssf_push_token is None:
            raise ConfigurationError(
                "push delivery needs the push token the transmitter will send: set "
                "REVOKER_SSF_PUSH_TOKEN (the same one revoker serve checks)"
            )
        delivery = {"method": PUSH, "endpoint_url": push_url,
                    "authorization_header": f"Bearer {settings.ssf_push_token}"}  # fmt: skip
    if issuer not in settings.ssf_transmitters:
        click.echo(f"warning: {issuer} is not a trusted --ssf-transmitter: the service refuses "
                   "its SETs until it is", err=True)  # fmt: skip
    requested = list(events or APPLIED_EVENTS)
    client = _client(settings, issuer)
    try:
        configuration = client.configuration()
        stream = client.create_stream(
            {"delivery": delivery, "events_requested": requested, "description": description}
        )
    finally:
        client.close()
    answered = stream.get("delivery")
    answered = answered if isinstance(answered, dict) else {}
    endpoint = push_url if push_url is not None else answered.get("endpoint_url")
    if not isinstance(endpoint, str) or not endpoint:
        raise ConfigurationError("the transmitter created a poll stream but named no endpoint_url")
    aud = stream.get("aud")
    audiences = tuple(aud) if isinstance(aud, list) else (aud,) if isinstance(aud, str) else ()
    accepted = settings.ssf_receiver_audience() or ()
    if audiences and not set(audiences) & set(accepted):
        click.echo(f"warning: the stream's aud {', '.join(audiences)} is none of ours "
                   f"({', '.join(accepted) or 'none'}): set --ssf-audience, or every SET is "
                   "refused with invalid_audience", err=True)  # fmt: skip
    record = StreamRecord(
        transmitter=issuer,
        stream_id=stream["stream_id"],
        method="push" if push_url is not None else "poll",
        endpoint_url=endpoint,
        created_at=time.time(),
        events_delivered=tuple(str(e) for e in stream.get("events_delivered") or ()),
        events_requested=tuple(requested),
        aud=audiences,
        description=description,
        extra={name: configuration[name] for name in ("configuration_endpoint",
               "status_endpoint", "verification_endpoint") if name in configuration},
    )  # fmt: skip
    _book(settings).put(record)
    if not as_json:
        click.echo("registered:")
    _echo_stream(record, as_json=as_json)


@ssf.command()
@click.argument("transmitter", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per stream.")
@setting_options(names=_OPTIONS)
def status(transmitter: str | None, as_json: bool, **options: Any) -> None:
    """Each recorded stream, as the transmitter sees it now and as recorded here."""
    settings = settings_from(options)
    records = _book(settings).of(transmitter)
    if not records:
        click.echo("no stream is recorded", err=True)
        return
    failed = False
    for record in records:
        client = _client(settings, record.transmitter)
        try:
            live = {"stream": client.read_stream(record.stream_id),
                    "status": client.stream_status(record.stream_id)}  # fmt: skip
        except ConfigurationError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported per stream, the others still shown
            live = None
            failed = True
            click.echo(f"error: stream {record.stream_id}: {exc}", err=True)
        finally:
            client.close()
        _echo_stream(record, as_json=as_json, live=live)
    if failed:
        raise SystemExit(1)


def _find(settings: Settings, stream_id: str, transmitter: str | None) -> StreamRecord:
    matches = [r for r in _book(settings).of(transmitter) if r.stream_id == stream_id]
    if len(matches) != 1:
        raise click.UsageError(
            f"no recorded stream {stream_id!r}" if not matches
            else "several transmitters have that stream id: name the transmitter"
        )  # fmt: skip
    return matches[0]


@ssf.command()
@click.argument("stream_id")
@click.option("--transmitter", help="The stream's transmitter (when stream ids collide).")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(0.1, 600), default=30.0,
              show_default=True, help="Seconds to wait for the verification event.")  # fmt: skip
@setting_options(names=_OPTIONS)
def verify(stream_id: str, transmitter: str | None, timeout_seconds: float, **options: Any) -> None:
    """Ask for a verification event and wait until the receiving service records its state."""
    settings = settings_from(options)
    record = _find(settings, stream_id, transmitter)
    book = _book(settings)
    state = secrets.token_urlsafe(24)
    asked = time.time()
    book.ask_verification(record.transmitter, record.stream_id, state, asked)
    client = _client(settings, record.transmitter)
    try:
        client.verify(record.stream_id, state)
    finally:
        client.close()
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        current = book.get(record.transmitter, record.stream_id)
        check = current.verification if current is not None else None
        if check is not None and check.state == state and check.verified_at is not None:
            click.echo(f"verified: the state came back after {check.verified_at - asked:.2f} s")
            return
        time.sleep(0.1)
    click.echo(
        f"error: no verification event came back within {timeout_seconds:g} s: is revoker "
        f"serve receiving this {record.method} stream with this stream file "
        f"({settings.ssf_streams_file})?",
        err=True,
    )
    raise SystemExit(1)


@ssf.command()
@click.argument("stream_id")
@click.option("--transmitter", help="The stream's transmitter (when stream ids collide).")
@setting_options(names=_OPTIONS)
def delete(stream_id: str, transmitter: str | None, **options: Any) -> None:
    """Delete the stream at its transmitter, and forget it here."""
    settings = settings_from(options)
    record = _find(settings, stream_id, transmitter)
    client = _client(settings, record.transmitter)
    try:
        client.delete_stream(record.stream_id)
    finally:
        client.close()
    _book(settings).remove(record.transmitter, record.stream_id)
    click.echo(f"deleted stream {record.stream_id} of {record.transmitter}")
