"""One registry of client-facing codes (issue #11 item 6): the README lists exactly its codes,
every code the code base emits is in it, and every refusal leaves in the one JSON envelope."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import PlainTextResponse

from gateway.http.middleware import ErrorEnvelope, RequestId
from gateway.observability.codes import CODES, code_for_status
from resolvers import ResolverError
from sources import SourceError

ROOT = Path(__file__).resolve().parents[2]


def _readme_codes() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Errors", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z][A-Z_]+)` \|", section, flags=re.MULTILINE)


def test_the_readme_lists_exactly_the_registry() -> None:
    listed = _readme_codes()
    assert len(listed) == len(set(listed)), "a code is listed twice"
    assert set(listed) == set(CODES)


def _concrete(base: type[Exception]) -> list[type[Any]]:
    found: list[type[Any]] = []
    for sub in base.__subclasses__():
        found += [sub, *_concrete(sub)]
    return found


# the abstract bases' codes (never raised as such: see below); SourcePartial carries the code
# of the failure it wraps
_NOT_EMITTED = {"SOURCE_ERROR", "RESOLVER_ERROR"}


@pytest.mark.parametrize("base", [SourceError, ResolverError])
def test_every_source_and_resolver_code_is_registered(base: type[Any]) -> None:
    classes = [c for c in _concrete(base) if c.__name__ != "SourcePartial"]
    assert classes
    missing = {cls.__name__: cls.code for cls in classes if cls.code not in CODES}
    assert not missing


def test_the_abstract_bases_are_never_raised_as_such() -> None:
    raised = re.compile(r"raise (SourceError|ResolverError)\(")
    for package in ("gateway", "schema", "resolvers", "sources"):
        for path in (ROOT / package).rglob("*.py"):
            assert not raised.search(path.read_text(encoding="utf-8")), path


_EMITTED = re.compile(
    r"""(?:"code":\s*|code\s*=\s*|limit_error\([^)]*?,\s*|\(\s*self\.\w+,\s*limits\.\w+,\s*)"""
    r""""([A-Z][A-Z_]{2,})\""""
)


def test_every_code_literal_in_the_code_base_is_registered() -> None:
    """Modules that spell a code as a string literal rather than a
    `gateway.observability.codes` constant."""
    seen: dict[str, str] = {}
    for package in ("gateway", "schema", "resolvers", "sources"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "codes.py":
                continue
            for code in _EMITTED.findall(path.read_text(encoding="utf-8")):
                seen[code] = str(path.relative_to(ROOT))
    assert "DEPTH_LIMIT" in seen  # the scan finds literals
    assert {c: p for c, p in seen.items() if c not in {*CODES, *_NOT_EMITTED}} == {}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "BAD_REQUEST"),
        (401, "UNAUTHENTICATED"),
        (405, "METHOD_NOT_ALLOWED"),
        (413, "PAYLOAD_TOO_LARGE"),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        (429, "RATE_LIMITED"),
        (418, "BAD_REQUEST"),
        (500, "INTERNAL"),
        (503, "INTERNAL"),
    ],
)
def test_status_codes_map_to_registered_codes(status: int, code: str) -> None:
    assert code_for_status(status) == code and code in CODES


async def _through_envelope(app: Any) -> httpx.Response:
    stack = RequestId(ErrorEnvelope(app))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack), base_url="http://gw"
    ) as http:
        return await http.post("/graphql", headers={"x-request-id": "rid-7"})


async def test_a_plain_text_refusal_becomes_the_envelope() -> None:
    app = PlainTextResponse("Unable to parse request body as JSON", status_code=400)
    response = await _through_envelope(app)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Unable to parse request body as JSON",
                "extensions": {"code": "BAD_REQUEST", "requestId": "rid-7"},
            }
        ],
        "extensions": {"requestId": "rid-7"},
    }


async def test_an_unexpected_exception_is_a_logged_json_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("secret detail")

    response = await _through_envelope(broken)
    assert response.status_code == 500
    error = response.json()["errors"][0]
    assert error == {
        "message": "internal error",
        "extensions": {"code": "INTERNAL", "requestId": "rid-7"},
    }
    assert "secret detail" not in response.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged and "rid-7" in logged[0].getMessage() and logged[0].exc_info


async def test_a_json_answer_passes_untouched() -> None:
    app = PlainTextResponse('{"data": null}', status_code=200)
    response = await _through_envelope(app)
    assert response.status_code == 200 and response.text == '{"data": null}'


def test_every_constant_is_registered() -> None:
    from gateway.observability import codes

    constants = {
        value for name, value in vars(codes).items() if name.isupper() and isinstance(value, str)
    }
    assert constants and constants <= set(CODES)
