"""The gateway's logs: one JSON object per line on stderr (or readable text in development),
levels set by `[logging]`, and one access line per request, stream, socket and webhook.

Every line says when, how bad, which logger and what; a line written while a request is served
also carries that request's context: its id (the audit trail's `requestId`), the trace id when
OpenTelemetry is tracing, the operation's name and type, and a keyed hash of the caller
(issuer, subject) — never the subject itself, nor a token, a query string, variables or a value
read (SECURITY.md: no PII in logs; operation names are client input and are escaped).

The audit trail is not a log: it has a sink of its own (`[audit] sink`, stdout by default;
gateway/observability/audit.py), written off the event loop and awaited before each answer,
whatever the log level. The logs never carry its lines, and it never carries theirs."""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import secrets
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from gateway.observability import codes
from gateway.observability.audit import safe_operation_name
from resolvers import ResolverError
from sources import SourceError

__all__ = [
    "FORMATS",
    "LEVELS",
    "AccessLog",
    "JsonFormatter",
    "LogSettings",
    "OperationLog",
    "TextFormatter",
    "configure_logging",
    "subject_hash",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("json", "text")
ACCESS = logging.getLogger("switchboard.access")

QUIET = {"httpx": "warning", "httpcore": "warning", "websockets": "info", "aiohttp": "info"}
"""Libraries held back unless a `loggers` entry names them: httpx logs a line per back-end call,
and at debug websockets logs frame contents and httpcore headers — answers and tokens."""


@dataclass(frozen=True, slots=True)
class LogSettings:
    """`[logging]`: every key may be set by SWITCHBOARD_LOGGING_<KEY> as well."""

    level: str = "info"
    """The root level: debug, info, warning, error or critical."""
    format: str = ""
    """json (one object per line) or text; empty: json in the production profile, text in
    development (the demo)."""
    loggers: tuple[str, ...] = ()
    """Per-logger levels, "name=level" ("switchboard.events=debug", "uvicorn.error=warning");
    as an environment variable: comma-separated."""
    access: bool = True
    """One line per request, stream, socket and webhook on the `switchboard.access` logger."""

    def __post_init__(self) -> None:
        _level(self.level, "level")
        if self.format not in ("", *FORMATS):
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        self.levels()

    def levels(self) -> dict[str, int]:
        """{logger: level} of `loggers`, checked: a typo is named, not ignored."""
        levels = {}
        for entry in self.loggers:
            name, sep, level = entry.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"loggers entries are name=level, got {entry!r}")
            levels[name.strip()] = _level(level.strip(), f"loggers entry {entry!r}")
        return levels


def _level(name: str, where: str) -> int:
    if name.lower() not in LEVELS:
        raise ValueError(f"{where} must be one of {', '.join(LEVELS)}, got {name!r}")
    return logging.getLevelNamesMapping()[name.upper()]


@dataclass(slots=True)
class _Request:
    """What the logs know of the request being served (one per ASGI scope)."""

    request_id: str
    operation: str | None = None
    operation_type: str | None = None
    subject: str | None = None
    outcome: str | None = None
    trace_id: str | None = None
    operations: list[str] = field(default_factory=list)


_current: contextvars.ContextVar[_Request | None] = contextvars.ContextVar(
    "switchboard_log_request", default=None
)
_subject_key = secrets.token_bytes(32)
"""Until configure_logging sets the deployment's ([policy] hash_key): random per process."""


def subject_hash(issuer: str, subject: str, key: bytes | None = None) -> str:
    """A keyed hash of (issuer, subject): the same caller gives the same value in every line
    (and on every replica sharing `[policy] hash_key`), yet the subject cannot be read back
    or guessed from a list of agent ids without the key."""
    digest = hmac.new(key or _subject_key, b"subject\0", hashlib.sha256)
    digest.update(f"{issuer}\0{subject}".encode())
    return digest.hexdigest()[:16]


def _trace_id() -> str | None:
    """The current span's trace id, when tracing is on: the optional [otel] extra is never
    imported here (with tracing off nothing of OpenTelemetry is loaded), only looked up once
    the tracing module has loaded it."""
    otel: Any = sys.modules.get("opentelemetry.trace")
    if otel is None:
        return None
    context = otel.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _context(request: _Request) -> dict[str, Any]:
    out: dict[str, Any] = {"requestId": request.request_id}
    for key, value in (
        ("operation", request.operation),
        ("operationType", request.operation_type),
        ("subject", request.subject),
        ("traceId", request.trace_id),
    ):
        if value is not None:
            out[key] = value
    return out


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The line's fields after time, level, logger and message: what the call passed as
    `extra={"fields": {...}}` (the access line: all of its context), else the context of the
    request being served (handlers format as they are called, within it)."""
    given = getattr(record, "fields", None)
    if isinstance(given, Mapping):
        return dict(given)
    request = _current.get()
    out = {} if request is None else _context(request)
    trace = _trace_id()  # the current span's: a background task's own trace, say
    if trace is not None:
        out["traceId"] = trace
    return out


def _time(record: logging.LogRecord) -> str:
    # milliseconds: enough to order lines, and no long digit runs beside the date
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line (orjson): control characters in any value are escaped, so a
    client's operation name cannot forge a line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """For a person at a terminal (the demo): `time level logger message key=value ...`."""

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{k}={_printable(str(v))}" for k, v in _fields(record).items())
        line = f"{_time(record)[11:23]} {record.levelname:<7} {record.name} "
        line += _printable(record.getMessage()) + (f" {context}" if context else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _printable(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode()


def configure_logging(
    settings: LogSettings, profile: str = "production", *, key: bytes = b""
) -> logging.Handler:
    """The process's logging: one stderr handler on the root logger (replacing any), the
    levels, uvicorn's loggers through it (its own access log is replaced by AccessLog's lines).
    `key` keys the subject hash ([policy] hash_key; empty: random per process)."""
    global _subject_key
    if key:
        _subject_key = key
    kind = settings.format or ("json" if profile == "production" else "text")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if kind == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(settings.level, "level"))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    levels = settings.levels()
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(levels.pop(name, _level(floor, name)))
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    return handler


class OperationLog(SchemaExtension):
    """Tells the request's log context which operation runs, who asks and how it ended; the
    same for both executions and for subscriptions (one per operation). Its rules are
    `operation_began` and `operation_ended`, which the direct road calls too."""

    def on_operation(self) -> Iterator[None]:
        ec = self.execution_context
        request = operation_began(ec)
        yield
        operation_ended(ec, request)


def operation_began(ec: ExecutionContext) -> _Request | None:
    """The request's log context told the operation's name and caller (None: no request)."""
    request = _current.get()
    if request is not None:
        name = safe_operation_name(ec.operation_name)
        request.operation = name
        if name is not None and len(request.operations) < 8:
            request.operations.append(name)
        request.trace_id = request.trace_id or _trace_id()
        principal = getattr(ec.context, "principal", None)
        identity = getattr(principal, "identity", None)
        if identity is not None:
            request.subject = subject_hash(*identity)
    return request


def operation_ended(ec: ExecutionContext, request: _Request | None) -> None:
    """The operation's type and outcome (its first error's code) on the request's context."""
    if request is None:
        return
    try:
        request.operation_type = ec.operation_type.value
    except Exception:  # a document that did not parse has no type
        request.operation_type = None
    result = ec.result
    errors = getattr(result, "errors", None) or ()
    code = next((_code(e) for e in errors), None)
    request.outcome = "ok" if not errors else code or codes.INTERNAL


def _code(error: Any) -> str | None:
    """The code the client gets for `error` (gateway/observability/errors.py format_error:
    a typed error's own, graphql-core's parse and validation errors), without logging."""
    extensions = getattr(error, "extensions", None) or {}
    code = extensions.get("code")
    if isinstance(code, str):
        return code
    original = getattr(error, "original_error", None)
    for kind in (SourceError, ResolverError):
        if isinstance(original, kind):
            return original.code
    if original is None and getattr(error, "path", None) is None:
        parse = str(getattr(error, "message", "")).startswith("Syntax Error")
        return codes.GRAPHQL_PARSE_FAILED if parse else codes.GRAPHQL_VALIDATION_FAILED
    return None


class AccessLog:
    """One line per request (an SSE stream's when it ends), socket (when it closes) and
    webhook, on `switchboard.access`: route, status (or close code), outcome, ms, with the
    request's context. Sits inside RequestId (whose id it reads) and around everything else;
    the path is logged as its route, never as the caller wrote it, and no query string."""

    def __init__(self, app: ASGIApp, systems: tuple[str, ...] = ()) -> None:
        self.app = app
        self.systems = frozenset(systems)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request = _Request(request_id=state.get("request_id", ""))
        token = _current.set(request)
        started = time.perf_counter()
        status: list[int] = []

        async def send_status(message: Message) -> None:
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status.append(int(message["status"]))
            elif kind == "websocket.close":
                status.append(int(message.get("code", 1000)))
            elif kind == "websocket.accept":
                status.append(101)
            await send(message)

        request.trace_id = _trace_id()  # a caller's traceparent, continued; else the view's
        try:
            await self.app(scope, receive, send_status)
        except BaseException:
            status.append(500)
            raise
        finally:
            _current.reset(token)
            if ACCESS.isEnabledFor(logging.INFO):
                self._log(scope, request, status[-1] if status else 0, started)
            # a timer the request scheduled (a socket's keepalive) keeps its context, so this
            # record, until it fires: it keeps nothing more than the id
            request.operation = request.subject = request.outcome = request.trace_id = None
            request.operations = []

    def _log(self, scope: Scope, request: _Request, status: int, started: float) -> None:
        state = scope.get("state", {})
        if request.subject is None:
            principal = state.get("principal")
            socket = state.get("socket_context")
            principal = principal or getattr(socket, "principal", None)
            if principal is not None:
                request.subject = subject_hash(*principal.identity)
        outcome = request.outcome
        if scope["type"] == "websocket":
            closed_well = status in (101, 1000, 1001)
            outcome = outcome or "ok" if closed_well else f"closed {status}"
        elif status >= 400 and outcome in (None, "ok"):
            outcome = codes.code_for_status(status)
        outcome = outcome or "ok"
        route = self._route(scope)
        fields: dict[str, Any] = {
            **_context(request),
            "route": route,
            "status": status,
            "outcome": outcome,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if scope["type"] == "websocket" and request.operations:
            fields["operations"] = list(request.operations)
        method = "WS" if scope["type"] == "websocket" else scope.get("method", "")
        ACCESS.info("%s %s %s", method, route, status, extra={"fields": fields})

    def _route(self, scope: Scope) -> str:
        path: str = scope.get("path", "")
        if path in ("/graphql", "/graphql/stream", "/health"):
            return path
        if path.startswith("/webhooks/"):
            system = path.removeprefix("/webhooks/")
            return f"/webhooks/{system}" if system in self.systems else "/webhooks/*"
        if path.startswith("/_graphiql/"):
            return "/_graphiql/*"
        return "*"
