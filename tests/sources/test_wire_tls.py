"""The wire client over https: the certificate is verified against the trust anchors, the host
name checked, and SNI sent. A throwaway CA and server certificate are made at test time."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sources import SourceSettings, SourceUnavailable
from sources.transport.wire import WireExchange

from .wire_backend import answer, serve


@dataclass
class Pki:
    ca: Path
    """The CA certificate (PEM), to trust."""
    server: ssl.SSLContext
    """The back-end's context, with a certificate for `localhost` signed by the CA."""
    names: list[str | None]
    """The server names (SNI) the back-end was asked for."""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pki(tmp: Path, host: str) -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("switchboard test CA"))
        .issuer_name(_name("switchboard test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (tmp / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "server.pem")
    names: list[str | None] = []
    server.sni_callback = lambda sock, name, ctx: names.append(name)
    return Pki(tmp / "ca.pem", server, names)


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[Pki]:
    yield _pki(tmp_path, "localhost")


def trusting(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca))


async def test_https_is_verified_and_sends_sni(pki: Pki) -> None:
    async with serve(answer, tls=pki.server) as backend:
        exchange = WireExchange(
            SourceSettings(name="core", base_url=backend.url, client="wire"), tls=trusting(pki)
        )
        assert await exchange.get("/x", [("q", "1")]) == b'{"ok":true}'
        assert await exchange.get("/x", []) == b'{"ok":true}'  # the same TLS connection
        await exchange.aclose()
    assert pki.names == ["localhost"] and backend.connections == 1


async def test_an_untrusted_certificate_is_unavailable(pki: Pki) -> None:
    """By default only the system's trust anchors: a certificate from an unknown CA fails."""
    async with serve(answer, tls=pki.server) as backend:
        exchange = WireExchange(SourceSettings(name="core", base_url=backend.url, client="wire"))
        with pytest.raises(SourceUnavailable) as caught:
            await exchange.get("/x", [])
        assert "localhost" not in str(caught.value)
        await exchange.aclose()
    assert backend.requests == []


async def test_a_certificate_for_another_host_is_unavailable(tmp_path: Path) -> None:
    other = _pki(tmp_path, "crm.example")
    async with serve(answer, tls=other.server) as backend:
        exchange = WireExchange(
            SourceSettings(name="core", base_url=backend.url, client="wire"),
            tls=trusting(other),
        )
        with pytest.raises(SourceUnavailable):
            await exchange.get("/x", [])
        await exchange.aclose()
    assert backend.requests == []
