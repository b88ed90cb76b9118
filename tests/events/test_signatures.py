"""Standard Webhooks verification (gateway/events/signatures.py)."""

from __future__ import annotations

import base64
import hmac

import pytest

from gateway.events.signatures import SignatureError, Verifier, parse_secret, sign
from tests.events.payloads import OTHER_SECRET, SECRET

# the Standard Webhooks spec's own example (EVENTS-CONTRACT.md)
ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _verifier(*secrets: str, now: float = TS) -> Verifier:
    return Verifier(secrets or (SECRET,), clock=lambda: now)


def test_sign_matches_the_spec_test_vector() -> None:
    assert sign(SECRET, ID, TS, BODY) == EXPECTED


def test_the_spec_test_vector_verifies() -> None:
    _verifier().verify(ID, str(TS), EXPECTED, BODY)


@pytest.mark.parametrize(
    ("webhook_id", "timestamp", "body"),
    [
        (ID, str(TS), BODY + b" "),  # tampered body
        ("msg_other", str(TS), BODY),  # tampered id
        (ID, str(TS + 1), BODY),  # tampered timestamp (still within tolerance)
    ],
)
def test_tampering_is_a_mismatch(webhook_id: str, timestamp: str, body: bytes) -> None:
    with pytest.raises(SignatureError) as caught:
        _verifier().verify(webhook_id, timestamp, EXPECTED, body)
    assert caught.value.reason == "mismatch"


def test_any_signature_under_any_secret_passes_for_rotation() -> None:
    new = sign(OTHER_SECRET, ID, TS, BODY)
    # the sender signs with the new secret only; the receiver knows both during the rotation
    _verifier(SECRET, OTHER_SECRET).verify(ID, str(TS), new, BODY)
    # the sender lists both signatures; a receiver knowing only the new secret accepts too
    _verifier(OTHER_SECRET).verify(ID, str(TS), f"{EXPECTED} {new}", BODY)
    with pytest.raises(SignatureError):
        _verifier(SECRET).verify(ID, str(TS), new, BODY)


@pytest.mark.parametrize("offset", [-300, 300])
def test_within_tolerance_passes(offset: int) -> None:
    _verifier(now=TS + offset).verify(ID, str(TS), EXPECTED, BODY)


@pytest.mark.parametrize("offset", [-301, 301])
def test_outside_tolerance_either_way_is_stale(offset: int) -> None:
    with pytest.raises(SignatureError) as caught:
        _verifier(now=TS + offset).verify(ID, str(TS), EXPECTED, BODY)
    assert caught.value.reason == "stale"


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        (None, EXPECTED, "missing"),
        (str(TS), None, "missing"),
        (str(TS), "", "missing"),
        ("16142653.5", EXPECTED, "malformed"),
        ("-1614265330", EXPECTED, "malformed"),
        (str(TS), "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "malformed"),
        (str(TS), "v1,not base64!", "malformed"),
        (str(TS), "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "malformed"),
        (str(TS), " ".join([EXPECTED] * 9), "malformed"),
    ],
)
def test_a_malformed_or_missing_header_is_refused(
    timestamp: str | None, signature: str | None, reason: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        _verifier().verify(ID, timestamp, signature, BODY)
    assert caught.value.reason == reason


def test_an_unknown_version_next_to_v1_is_skipped() -> None:
    _verifier().verify(ID, str(TS), f"v1a,xyz {EXPECTED}", BODY)


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    _verifier().verify(ID, str(TS), EXPECTED, BODY)
    assert compared == [(base64.b64decode(EXPECTED[3:]), base64.b64decode(EXPECTED[3:]))]


@pytest.mark.parametrize(
    "secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64", "whsec_c2hvcnQ=", ""]
)
def test_a_malformed_secret_is_refused_without_repeating_it(secret: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_secret(secret)
    assert "whsec_" in str(caught.value)
    assert not secret or secret.removeprefix("whsec_") not in str(caught.value)


def test_the_error_names_a_reason_not_the_material() -> None:
    with pytest.raises(SignatureError) as caught:
        _verifier().verify(ID, str(TS), "v1,AAAA", BODY)
    assert str(caught.value) == "webhook signature refused: mismatch"
