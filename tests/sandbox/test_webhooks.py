"""The producer side of the events contract: Standard Webhooks signing (the spec's own test
vector), CRM and core payload shapes, and at-least-once delivery without blocking anyone."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from gateway.cli import main
from sources.sandbox.webhooks import (
    Poster,
    ccaas_event,
    post_case_update,
    post_core_event,
    secret_key,
    sign,
    webhook_url,
)

from .receiver import SECRET, Receiver, receiving, signature_valid


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


def test_sign_matches_the_standard_webhooks_test_vector() -> None:
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}') == (
        signature
    )


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsec_not base64!", "base64"),
        ("whsec_c2hvcnQ=", "16 bytes"),
    ],
)
def test_bad_secrets_are_refused_clearly(secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        secret_key(secret)
    with pytest.raises(ValueError, match=message):
        Poster("http://127.0.0.1:9", secret)


@pytest.mark.parametrize("url", ["ftp://x/hooks", "http:///hooks", "http://x/hooks?a=1", "x"])
def test_bad_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="webhook URL"):
        webhook_url(url)


def test_the_cli_refuses_half_or_bad_webhook_settings(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["sandbox", "--webhook-url", "http://127.0.0.1:9/hooks"],
        ["sandbox", "--webhook-secret", SECRET],
        ["sandbox", "--webhook-url", "http://127.0.0.1:9", "--webhook-secret", "plain"],
        ["sandbox", "--webhook-url", "nowhere", "--webhook-secret", SECRET],
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
    errors = capsys.readouterr().err
    assert "go together" in errors and "whsec_" in errors and "webhook URL" in errors


async def test_case_and_core_events_have_the_contract_shapes(receiver: Receiver) -> None:
    poster = Poster(receiver.url, SECRET)
    before = len(receiver.deliveries)
    post_case_update(
        poster, case_id="500SB0000000000001", customer_id="003SB0000000000042", status="Escalated"
    )
    post_core_event(poster, event_type="FRAUD_ALERT", party_id="PTY100000042", reference_id="ALT-1")
    await poster.drain()
    crm, core = sorted(receiver.deliveries[before:], key=lambda d: d.system != "crm")
    assert poster.delivered == 2 and poster.failed == 0
    assert (crm.system, core.system) == ("crm", "core")
    assert signature_valid(crm) and signature_valid(core)
    header = crm.body["payload"]["ChangeEventHeader"]
    assert header["entityName"] == "Case" and header["changeType"] == "UPDATE"
    assert header["recordIds"] == ["500SB0000000000001"]
    assert isinstance(header["commitTimestamp"], int) and header["changedFields"] == ["Status"]
    assert crm.body["payload"]["ContactId"] == "003SB0000000000042"
    assert crm.body["payload"]["Status"] == "Escalated"
    assert isinstance(crm.body["event"]["replayId"], int)
    assert set(core.body) == {"eventId", "eventType", "occurredAt", "partyId", "referenceId"}
    assert core.body["eventType"] == "FRAUD_ALERT" and core.body["partyId"] == "PTY100000042"
    with pytest.raises(ValueError, match="event_type"):
        post_core_event(poster, event_type="CARD_EATEN", party_id="P", reference_id="R")


async def test_a_dead_receiver_is_retried_then_given_up_without_blocking() -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    poster = Poster(f"http://127.0.0.1:{port}", SECRET, attempts=3, backoff_s=0.01)
    poster.send("ccaas", ccaas_event("INITIATED", "c-1"), key="c-1")
    poster.send("ccaas", ccaas_event("COMPLETED", "c-1"), key="c-1")
    await poster.drain()
    assert (poster.delivered, poster.failed) == (0, 2)


async def test_cancel_drops_pending_deliveries(receiver: Receiver) -> None:
    poster = Poster(receiver.url, SECRET, backoff_s=60)
    receiver.fail_next = 1  # the first attempt fails, the retry would wait a minute
    poster.send("ccaas", ccaas_event("INITIATED", "c-2"), key="c-2")
    poster.send("ccaas", ccaas_event("COMPLETED", "c-2"), key="c-2")  # queued behind it
    for _ in range(500):
        if receiver.of("c-2"):
            break
        await asyncio.sleep(0.01)
    poster.cancel()
    await poster.drain()
    assert [d.status for d in receiver.of("c-2")] == [503]
    assert (poster.delivered, poster.failed) == (0, 0)


def test_ccaas_events_are_the_contract_envelope() -> None:
    event = ccaas_event("CONTACT_DATA_UPDATED", "c-3", agent_id="a-1", idv="PASSED")
    assert event["detail"]["contactData"] == {"attributes": {"idv": "PASSED"}}
    assert event["detail"]["agentInfo"]["agentArn"].endswith("/agent/a-1")
    with pytest.raises(ValueError, match="unknown CCaaS event"):
        ccaas_event("RINGING", "c-3")
