"""What the console shows: rules searched and paged, the audit log filtered, paged and
exported (CSV safe in a spreadsheet), the overview's chart, counts and health, and the
console switched off where it cannot work."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
from console_support import ADMIN_TOKEN, Signed, make_state, serve_on, sign_in

from revoker.core.registry import AuditEntry
from revoker.service.app import build_app
from revoker.service.console.chart import decisions_chart
from revoker.service.console.export import audit_csv, safe_cell
from revoker.service.console.signals import SignalStatus, signal_cards
from revoker.service.metrics import DecisionHistory
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory

DAY = 86400


def _signed_in(client: httpx.Client) -> Signed:
    assert sign_in(client, ADMIN_TOKEN).status_code == 303
    return Signed(client, "")


def _values(page: str) -> list[str]:
    """The subjects listed in a rules page, in order."""
    return [part.split(" ")[0] for part in page.split("every token of subject ")[1:]]


def test_rules_are_paged_25_at_a_time(admin: Signed, state: ServiceState) -> None:
    """Page 1 has the first 25 and a next link; page 2 the rest and a previous link."""
    for number in range(30):
        state.registry.revoke("subject", f"user-{number:02}", actor="admin")
    first = admin.client.get("/console/rules").text
    assert _values(first) == [f"user-{n:02}" for n in range(25)]
    assert "Rules 1\N{EN DASH}25" in first
    assert "page=2" in first
    second = admin.client.get("/console/rules?page=2").text
    assert _values(second) == [f"user-{n:02}" for n in range(25, 30)]
    assert "← Previous" in second
    assert "Next →" not in second


def test_rules_filter_by_kind_value_issuer_actor_and_reason(
    admin: Signed, state: ServiceState, factory: TokenFactory
) -> None:
    """Each filter narrows the list; filters combine; the form keeps what was typed."""
    registry = state.registry
    registry.revoke("subject", "user-a", actor="console:admin", reason="Password reset")
    registry.revoke("subject", "user-b", actor="admin", reason="left the company")
    registry.revoke("session", "sid-1", actor="logout", reason="back-channel logout")
    registry.revoke("subject", "user-c", actor="admin", issuer=factory.issuer, reason="x")

    def listed(query: str) -> list[str]:
        page = admin.client.get("/console/rules?" + query).text
        return sorted(
            part.split(" ")[0]
            for part in page.split('<td class="words"><a href="/console/rules/')[1:]
        )

    assert len(listed("kind=subject")) == 3
    assert len(listed("kind=session")) == 1
    page = admin.client.get("/console/rules?value=user-b").text
    assert "every token of subject user-b" in page
    assert "user-a" not in page
    assert len(listed(f"issuer={factory.issuer}")) == 1
    assert "user-a" in admin.client.get("/console/rules?actor=CONSOLE").text
    assert "user-a" not in admin.client.get("/console/rules?actor=logout").text
    assert "user-a" in admin.client.get("/console/rules?reason=password").text
    combined = admin.client.get("/console/rules?kind=subject&actor=admin&reason=left").text
    assert "user-b" in combined
    assert "user-a" not in combined
    assert 'value="left"' in combined


def test_rules_filter_by_created_and_expiring(
    client: httpx.Client, state: ServiceState, clock: FrozenClock
) -> None:
    """Created from/to take dates (the 'to' day included); expiring before skips keys, which
    never expire."""
    registry = state.registry
    registry.revoke("subject", "old-user", actor="admin")
    clock.advance(3 * DAY)
    registry.revoke("subject", "new-user", actor="admin")
    registry.revoke("key", "kid-1", actor="admin")
    today = "2023-11-17"  # T0 + 3 days, as a date
    admin = _signed_in(client)
    created_today = admin.client.get(f"/console/rules?created_from={today}").text
    assert "new-user" in created_today
    assert "old-user" not in created_today
    assert "old-user" not in admin.client.get("/console/rules?created_to=2023-11-14").text
    created_before = admin.client.get(
        "/console/rules?created_to=2023-11-14&include_expired=1"  # old-user expired a day ago
    ).text
    assert "old-user" in created_before
    assert "new-user" not in created_before
    expiring = admin.client.get(f"/console/rules?expiring_before={today}&include_expired=1").text
    assert "old-user" in expiring
    assert "new-user" not in expiring
    assert "kid-1" not in expiring
    bad = admin.client.get("/console/rules?created_from=yesterday")
    assert "not an ISO 8601 time" in bad.text


def test_the_audit_log_is_newest_first_filtered_and_paged(
    admin: Signed, state: ServiceState
) -> None:
    """Filters by action, actor, kind, value and rule; 25 a page with an older link."""
    registry = state.registry
    rules = [registry.revoke("subject", f"user-{n:02}", actor="admin") for n in range(27)]
    registry.lift(rules[0].id, actor="console:admin", reason="mistake")
    page = admin.client.get("/console/audit").text
    assert page.index("mistake") < page.index("user-26") < page.index("user-03")
    assert "user-02" not in page  # on the next page
    older = page.split('href="/console/audit?before=')[1].split('"')[0]
    second = admin.client.get(f"/console/audit?before={older}").text
    assert [v in second for v in ("user-02", "user-01", "user-00", "user-03")] == [
        True, True, True, False
    ]  # fmt: skip
    assert "Older →" not in second
    lifts = admin.client.get("/console/audit?action=lift").text
    assert lifts.count('class="action action-lift"') == 1
    assert 'class="action action-revoke"' not in lifts
    by_actor = admin.client.get("/console/audit?actor=console").text
    assert by_actor.count("<tr>") == 2  # the header row and the lift
    by_rule = admin.client.get(f"/console/audit?rule={rules[0].id[:10]}").text
    assert by_rule.count('class="action action-') == 2  # its revoke and its lift
    assert admin.client.get("/console/audit?value=user-05").text.count("user-05") >= 1


def test_the_audit_export_has_the_filtered_entries_in_json_and_csv(
    admin: Signed, state: ServiceState
) -> None:
    """JSON keeps the admin API's entry shape; CSV has a header and one row per entry."""
    registry = state.registry
    rule = registry.revoke("subject", '=HYPERLINK("http://x")', actor="admin", reason="+1 bad")
    registry.revoke("session", "sid-1", actor="admin")
    registry.lift(rule.id, actor="console:admin", reason="@mistake")
    exported = admin.client.get("/console/audit.json?kind=subject")
    assert exported.headers["content-disposition"] == 'attachment; filename="revoker-audit.json"'
    document = json.loads(exported.text)
    assert [e["action"] for e in document["entries"]] == ["revoke", "lift"]
    assert document["entries"][0]["value"] == '=HYPERLINK("http://x")'
    assert document["filters"] == {"kind": "subject"}
    rows = list(csv.reader(io.StringIO(admin.client.get("/console/audit.csv").text)))
    assert rows[0] == ["seq", "at", "actor", "action", "rule_id", "kind", "value", "reason"]
    assert len(rows) == 4
    assert rows[1][6] == '\'=HYPERLINK("http://x")'
    assert rows[1][7] == "'+1 bad"
    assert rows[3][7] == "'@mistake"
    assert rows[1][1].endswith("Z")


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_made_text(cell: str, safe: str) -> None:
    """Cells starting with = + - @ (or tab, CR) get a leading quote; others stay as they are."""
    assert safe_cell(cell) == safe


def test_the_csv_export_quotes_what_csv_needs() -> None:
    """Commas, quotes and new lines stay inside their cell."""
    entry = AuditEntry(seq=1, at=0.0, actor="a,b", action="revoke", rule_id="r", kind="token",
                       value='say "hi"', reason="one\ntwo")  # fmt: skip
    rows = list(csv.reader(io.StringIO(audit_csv([entry]))))
    assert rows[1] == ["1", "1970-01-01T00:00:00Z", "a,b", "revoke", "r", "token", 'say "hi"',
                       "one\ntwo"]  # fmt: skip


def test_the_history_counts_decisions_in_their_time_buckets() -> None:
    """What happened between two samples lands in the later sample's bucket; now counts too."""
    tables: dict[str, dict[str, int]] = {"auth": {"allowed": 0}, "check": {}}
    history = DecisionHistory(tables, step_seconds=5, keep_seconds=600)
    history.sample(1000)
    tables["auth"]["allowed"] += 4
    history.sample(1005)
    tables["auth"]["revoked_subject"] = 2
    tables["check"]["allowed"] = 1
    history.sample(1031)
    tables["auth"]["allowed"] += 1
    buckets = history.buckets(1040, bucket_seconds=30, count=3)
    assert [start for start, _ in buckets] == [960, 990, 1020]
    assert buckets[1][1] == {"allowed": 4}
    assert buckets[2][1] == {"revoked_subject": 2, "allowed": 2}
    assert buckets[0][1] == {}


def test_the_history_forgets_what_is_older_than_it_keeps() -> None:
    """Samples beyond keep_seconds are dropped: the memory stays bounded."""
    history = DecisionHistory({"auth": {"allowed": 0}}, step_seconds=5, keep_seconds=60)
    for step in range(100):
        history.sample(step * 5.0)
    assert len(history._samples) == 13


def test_the_chart_stacks_each_bucket_and_fits_the_tallest() -> None:
    """Allowed at the bottom, revocations above; the tallest stack fits under the top line."""
    chart = decisions_chart(
        [(0, {}), (30, {"revoked_subject": 3, "allowed": 5}), (60, {"malformed": 1})],
        bucket_seconds=30,
    )
    allowed, revoked, malformed = chart.bars
    assert (allowed.colour, revoked.colour) == ("#2f855a", "#c53030")
    assert allowed.y + allowed.height == pytest.approx(chart.plot_bottom)
    assert revoked.y + revoked.height == pytest.approx(allowed.y)
    top_line = chart.grid[-1][0]
    assert revoked.y >= top_line - 0.01
    assert chart.grid[-1][1] == "10"  # the nice ceiling above 8
    assert [(item.reason, item.total) for item in chart.legend] == [
        ("allowed", 5), ("revoked_subject", 3), ("malformed", 1)
    ]  # fmt: skip
    assert chart.total == 9
    assert "5 allowed" in allowed.title
    assert malformed.height > 0


def test_the_overview_shows_decisions_rules_replica_store_and_signals(
    admin: Signed, state: ServiceState, factory: TokenFactory
) -> None:
    """Decisions made through /auth appear in the chart; rules by kind; seq, store, keys."""
    state.metrics.history.sample(state.clock())
    bearer = {"Authorization": f"Bearer {factory.access_token()}"}
    for _ in range(3):
        assert admin.client.get("/auth", headers=bearer).status_code == 200
    state.registry.revoke("subject", "user-1", actor="admin")
    assert admin.client.get("/auth", headers=bearer).status_code == 401
    page = admin.client.get("/console").text
    assert "<code>allowed</code> <strong>3</strong>" in page
    assert "<code>revoked_subject</code> <strong>1</strong>" in page
    assert '<span class="kind kind-subject">subject</span></a></td><td class="num">1</td>' in page
    assert f"<dt>sequence</dt><dd><code>{state.registry.replica.seq}</code>" in page
    assert "In step with the store" in page
    assert f'<code class="wrap">{state.settings.store_url}</code>' in page
    assert factory.issuer in page
    for title in ("Back-channel logout", "SSF streams", "Cognito CloudTrail"):
        assert title in page
    assert page.count("not configured") == 2  # back-channel logout is on by default
    assert "on; no logout token yet" in page
    live = admin.client.get("/console/overview/live")
    assert "<html" not in live.text
    assert "revoked_subject" in live.text


def test_a_signal_source_that_reports_fills_its_card() -> None:
    """A configured source shows its state; a failing one makes its card failing."""

    class Source:
        kind = "ssf"
        name = "stream 1"

        def status(self) -> SignalStatus:
            return SignalStatus(healthy=False, detail="transmitter unreachable")

    cards = {card.kind: card for card in signal_cards([Source()])}
    assert not cards["backchannel_logout"].configured
    assert cards["ssf"].configured
    assert not cards["ssf"].healthy
    assert cards["ssf"].sources[0][1].detail == "transmitter unreachable"


@pytest.mark.parametrize(
    ("overrides", "status", "says"),
    [
        ({"admin_token": None, "viewer_token": None}, 403, "No credential is configured"),
        ({"workers": 2}, 503, "one worker only"),
    ],
    ids=["no-credential", "workers"],
)
def test_the_console_is_off_where_it_cannot_work(
    factory: TokenFactory,
    live_switch: tuple[object, str],
    overrides: dict[str, object],
    status: int,
    says: str,
) -> None:
    """Without a credential, or with several workers (sessions live in one), it says why."""
    state = make_state(factory, **overrides)
    with serve_on(live_switch)(build_app(state)) as http:  # type: ignore[arg-type]
        for path in ("/console", "/console/login"):
            response = http.get(path)
            assert response.status_code == status
            assert says in response.text
        refused = http.post("/console/login", data={"credential": ADMIN_TOKEN})
        assert refused.status_code == status


def test_an_unknown_page_parameter_is_a_clear_error(admin: Signed) -> None:
    """A page number that is not one, or an unknown kind, is said on the page (not a 500)."""
    assert "page must be a whole number" in admin.client.get("/console/rules?page=x").text
    assert "unknown rule kind" in admin.client.get("/console/audit?kind=nope").text


def test_pages_never_answer_5xx_for_odd_input(admin: Signed) -> None:
    """Odd query strings get a page with a message, never a server error."""
    for path in ("/console/rules?created_from=%00", "/console/audit?before=-1",
                 "/console/audit?since=9999999999999999999999",
                 "/console/rules?page=999999999"):  # fmt: skip
        response = admin.client.get(path)
        assert response.status_code < 500, path


def test_every_route_refuses_other_methods(client: httpx.Client) -> None:
    """GET-only pages answer 405 to a POST, in the service's JSON error shape."""
    assert client.post("/console/audit").status_code == 405
