"""gateway/observability/logs.py: JSON lines with the request's context, one access line per
request (its route, never the caller's path), the subject hashed with a key, levels and
format from [logging] with clear errors."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.config import ConfigError, build_config
from gateway.demo import demo_config
from gateway.http.middleware import RequestId
from gateway.observability import logs
from gateway.observability.logs import (
    AccessLog,
    JsonFormatter,
    LogSettings,
    TextFormatter,
    configure_logging,
    subject_hash,
)
from sources.sandbox.server import background_server


class _Lines(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def lines() -> Iterator[list[str]]:
    handler = _Lines(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _app() -> Starlette:
    async def hello(request: Request) -> PlainTextResponse:
        logging.getLogger("switchboard.test").info("inside %s", "the request")
        return PlainTextResponse("hi")

    return Starlette(
        routes=[Route("/graphql", hello, methods=["GET"])],
        middleware=[Middleware(RequestId), Middleware(AccessLog, ("ccaas",))],
    )


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return await client.get(path)


async def test_a_request_logs_json_lines_with_its_id_and_one_access_line(
    lines: list[str],
) -> None:
    response = await _get("/graphql")
    parsed = [json.loads(line) for line in lines if '"switchboard.' in line]
    inside = next(p for p in parsed if p["logger"] == "switchboard.test")
    access = [p for p in parsed if p["logger"] == "switchboard.access"]
    assert len(access) == 1
    assert inside["message"] == "inside the request" and inside["level"] == "info"
    assert inside["requestId"] == access[0]["requestId"] == response.headers["x-request-id"]
    assert access[0]["route"] == "/graphql" and access[0]["status"] == 200
    assert access[0]["outcome"] == "ok" and isinstance(access[0]["ms"], float)
    assert {"time", "level", "logger", "message"} <= set(access[0])
    assert "traceId" not in access[0]  # OpenTelemetry is not installed here


async def test_the_access_line_names_the_route_never_the_callers_path(lines: list[str]) -> None:
    for path in ("/customers/4111111111111111?ssn=912-34-5678", "/webhooks/%0Aforged"):
        response = await _get(path)
        assert response.status_code == 404
    access = [json.loads(line) for line in lines if "switchboard.access" in line]
    assert [a["route"] for a in access] == ["*", "/webhooks/*"]
    assert [a["outcome"] for a in access] == ["NOT_FOUND", "NOT_FOUND"]
    ours = [line for line in lines if '"logger":"switchboard.' in line]
    assert not any("4111" in line or "912-34" in line or "forged" in line for line in ours)


def test_a_client_written_message_cannot_forge_a_line() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "op %s", ("A\n{}\x1b[2J",), None)
    assert "\n" not in JsonFormatter().format(record)
    assert "\n" not in TextFormatter().format(record)
    assert json.loads(JsonFormatter().format(record))["message"] == "op A\n{}\x1b[2J"


def test_the_subject_is_hashed_with_the_deployments_key() -> None:
    one = subject_hash("https://idp", "agent-0001", b"key-one")
    assert one == subject_hash("https://idp", "agent-0001", b"key-one")
    assert one != subject_hash("https://idp", "agent-0001", b"key-two")
    assert one != subject_hash("https://other", "agent-0001", b"key-one")
    assert "agent" not in one and len(one) == 16


def _config(env: dict[str, str] | None = None, **logging_table: Any) -> LogSettings:
    raw = demo_config(0, 9)
    raw["logging"] = logging_table
    settings: LogSettings = build_config(raw, env or {}).logging
    return settings


def test_logging_settings_come_from_the_file_and_the_environment() -> None:
    assert _config() == LogSettings()
    settings = _config(level="warning", loggers=["switchboard.events=debug"])
    assert settings.levels() == {"switchboard.events": logging.DEBUG}
    env = {
        "SWITCHBOARD_LOGGING_LEVEL": "debug",
        "SWITCHBOARD_LOGGING_FORMAT": "text",
        "SWITCHBOARD_LOGGING_LOGGERS": "httpx=info, uvicorn.error=error",
    }
    settings = _config(env)
    assert (settings.level, settings.format) == ("debug", "text")
    assert settings.levels() == {"httpx": logging.INFO, "uvicorn.error": logging.ERROR}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"level": "verbose"}, "[logging] level must be one of debug, info, warning"),
        ({"format": "xml"}, "[logging] format must be one of json, text"),
        ({"loggers": ["switchboard.events"]}, "loggers entries are name=level"),
        ({"loggers": ["httpx=loud"]}, "loggers entry 'httpx=loud' must be one of debug"),
        ({"levle": "info"}, "[logging] unknown key(s): levle"),
    ],
)
def test_a_bad_logging_setting_is_named(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _config(**table)
    assert message in str(refused.value)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    names = ("websockets", "httpx", "httpcore", "aiohttp", "switchboard.events", "uvicorn.access")
    levels = {n: logging.getLogger(n).level for n in names}
    key = logs._subject_key
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, saved in levels.items():
            logging.getLogger(name).setLevel(saved)
        logging.getLogger("uvicorn.access").disabled = False
        logs._subject_key = key


def test_configure_logging_installs_one_handler_the_levels_and_the_profiles_format(
    restored_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    settings = LogSettings(level="debug", loggers=("switchboard.events=error", "httpx=debug"))
    handler = configure_logging(settings, "production", key=b"k")
    assert logging.getLogger().handlers == [handler]
    assert isinstance(handler.formatter, JsonFormatter)
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("switchboard.events").level == logging.ERROR
    # at debug, websockets logs frames and httpcore headers: held back unless named
    assert logging.getLogger("websockets").level == logging.INFO
    assert logging.getLogger("httpcore").level == logging.WARNING
    assert logging.getLogger("httpx").level == logging.DEBUG
    assert logging.getLogger("uvicorn.access").disabled  # AccessLog writes those lines
    logging.getLogger("switchboard.demo").info("hello")
    assert json.loads(stream.getvalue())["message"] == "hello"
    assert logs._subject_key == b"k"
    text = configure_logging(LogSettings(), "development")
    assert isinstance(text.formatter, TextFormatter)
    assert isinstance(
        configure_logging(LogSettings(format="json"), "development").formatter, JsonFormatter
    )


async def test_a_socket_has_one_access_line_when_it_closes_with_its_close_code(
    lines: list[str],
) -> None:
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        code = int(await websocket.receive_text())
        await websocket.close(code)

    app = Starlette(
        routes=[WebSocketRoute("/graphql", socket)],
        middleware=[Middleware(RequestId), Middleware(AccessLog)],
    )
    with background_server(app, lifespan="off", websockets=True) as url:
        for code in ("1000", "4403"):
            async with connect(url.replace("http", "ws") + "/graphql") as ws:
                await ws.send(code)
                with contextlib.suppress(ConnectionClosed):
                    await ws.recv()
        async with asyncio.timeout(10):  # written as the server's side ends: a guard
            while sum("switchboard.access" in line for line in lines) < 2:  # noqa: ASYNC110 (another thread logs)
                await asyncio.sleep(0.01)
    access = [json.loads(line) for line in lines if "switchboard.access" in line]
    assert [(a["message"], a["status"], a["outcome"]) for a in access] == [
        ("WS /graphql 1000", 1000, "ok"),
        ("WS /graphql 4403", 4403, "closed 4403"),
    ]
