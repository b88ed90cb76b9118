"""The PII canary (issue #16): the integration and events suites run against sandboxes seeded
with canary values, every log record (every logger, the root included, at DEBUG) is formatted
as the gateway writes it and searched for them, and so are the audit lines, the metrics each
gateway exports and, when tracing is installed, the spans.

A canary sandbox (`canary_sandbox`, the sandbox's `canary=True`) marks every name, e-mail and
street with "Qanary"; its phones, PANs, SSNs, dates of birth and account numbers are its own
(drawn from the seed) and are listed here from the same generator. A line leaks when it holds
the marker in any case, or one of those numbers as written, digits only, or with separators
("912-34-5678", "912345678", "4111 1111 1111 1111", "(200) 555-1234").

Used by tests/integration/conftest.py and tests/events/conftest.py: a leak fails the test
during which it was logged (a teardown error naming the line), or the session at its end."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.observability.logs import JsonFormatter
from gateway.observability.metrics import Metrics
from sources.sandbox import SandboxApp, create_app, running
from sources.sandbox.data import Dataset
from sources.sandbox.population import CANARY

__all__ = ["WATCH", "Watch", "canary_app", "canary_check", "canary_sandbox", "canary_session"]

MARKER = CANARY.lower()
_DIGITS = re.compile(r"\d+")
_SEPARATED = re.compile(r"\d+(?:[ ,./()-]{1,2}\d+)+")
"""Digits with separators between them ("912-34-5678", "(200) 555-1234"); the time's colons
and a millisecond dot leave runs too short to be a canary."""
_TIME_OF_DAY = re.compile(r"\d{2}:\d{2}:\d{2}(?:\.\d+)?")
"""A clock time with its seconds ("11:46:20.041019"), taken out before the separated runs are
read: its seconds, a dot and six digits of microseconds ("20.041019") read as a date of birth
(2004-10-19). No canary value is ever written as a time of day."""


def _numbers(dataset: Dataset) -> set[str]:
    """Every customer's phones (international and national digits), PANs, SSNs, dates of
    birth and account numbers, digits only."""
    found: set[str] = set()
    generator = dataset.generator
    for index, who in enumerate(dataset.population.customers):
        customer = generator.customer(index)
        for _, phone in who.phones:
            digits = phone.lstrip("+")
            found.update((digits, digits[1:]))
        found.update(who.account_numbers)
        found.add(customer.ssn.replace("-", ""))
        found.add(customer.birthdate.replace("-", ""))
        found.update(card.pan for card in generator.banking(index).cards)
    return found


class Watch:
    """Collects canary values and the places they turned up."""

    def __init__(self) -> None:
        self.numbers: set[str] = set()
        self.leaks: list[str] = []
        self.lines = 0
        self.metrics: list[Metrics] = []
        self._sandboxes: set[tuple[int, int]] = set()
        self._lock = threading.Lock()

    def add_sandbox(self, seed: int, customers: int) -> None:
        if (seed, customers) in self._sandboxes:
            return
        self._sandboxes.add((seed, customers))
        anchor = datetime.now(UTC).replace(second=0, microsecond=0)
        self.numbers |= _numbers(Dataset(seed, customers, anchor, canary=True))

    def found(self, text: str) -> list[str]:
        """The canary values in `text` (in any of their forms)."""
        hits = [CANARY] if MARKER in text.lower() else []
        hits += [run for run in _DIGITS.findall(text) if run in self.numbers]
        for run in _SEPARATED.findall(_TIME_OF_DAY.sub(" ", text)):
            digits = re.sub(r"\D", "", run)
            if digits in self.numbers:
                hits.append(run)
        return hits

    def check(self, where: str, lines: Iterable[str]) -> None:
        for line in lines:
            self.lines += 1
            if self.found(line):
                with self._lock:
                    self.leaks.append(f"{where}: {line[:2000]}")

    def take_leaks(self) -> list[str]:
        with self._lock:
            leaks, self.leaks = self.leaks, []
        return leaks

    def check_metrics(self) -> None:
        """What every gateway built so far exports (/metrics' text: names, labels, values)."""
        for metrics in self.metrics:
            self.check("metrics", metrics.render().decode().splitlines())

    def check_spans(self, spans: Iterable[Any]) -> None:
        """OpenTelemetry ReadableSpans: names, attributes, events and their attributes."""
        for span in spans:
            texts = [span.name, *map(str, (span.attributes or {}).items())]
            for event in span.events or ():
                texts += [event.name, *map(str, (event.attributes or {}).items())]
            self.check(f"span {span.name}", texts)


class _Capture(logging.Handler):
    """Every record, formatted as the gateway's JSON lines are (message with its arguments,
    the request's context, a traceback's text)."""

    def __init__(self, watch: Watch) -> None:
        super().__init__(logging.DEBUG)
        self.watch = watch
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.watch.check("log", [self.format(record)])
        except Exception:  # a record that cannot be formatted is logging's own error
            self.handleError(record)


WATCH = Watch()
_installed: list[Callable[[], None]] = []


def install() -> None:
    """Once per session, whichever suites ask: the capturing handler on the root logger, the
    root at DEBUG, and every Metrics the gateways make kept for the final scrape."""
    if _installed:
        return
    root = logging.getLogger()
    handler = _Capture(WATCH)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # the test clients' own request lines (httpx logs each URL at info: a routing lookup's
    # `?phone=`) are not the gateway's logs; the gateway holds httpx at warning itself
    # (gateway/observability/logs.py) and uses it for its key set only
    clients = logging.getLogger("httpx")
    clients_level = clients.level
    clients.setLevel(logging.WARNING)
    original = Metrics.__init__

    def keep(self: Metrics) -> None:
        original(self)
        WATCH.metrics.append(self)

    Metrics.__init__ = keep  # type: ignore[method-assign]

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(level)
        clients.setLevel(clients_level)
        Metrics.__init__ = original  # type: ignore[method-assign]

    _installed.append(undo)


def uninstall() -> None:
    while _installed:
        _installed.pop()()


@contextmanager
def canary_sandbox(*, seed: int = 7, customers: int = 2_000, **more: Any) -> Iterator[str]:
    """`sources.sandbox.running` with canary values, which the watch then looks for."""
    WATCH.add_sandbox(seed, customers)
    with running(seed=seed, customers=customers, canary=True, **more) as url:
        yield url


def canary_app(*, seed: int = 7, customers: int = 10_000, **more: Any) -> SandboxApp:
    """`sources.sandbox.create_app` with canary values, which the watch then looks for."""
    WATCH.add_sandbox(seed, customers)
    return create_app(seed=seed, customers=customers, canary=True, **more)


@pytest.fixture(scope="session", autouse=True)
def canary_session() -> Iterator[Watch]:
    """The capture, for the session; at its end, the metrics of every gateway it built."""
    install()
    try:
        yield WATCH
        WATCH.check_metrics()
        leaks = WATCH.take_leaks()
        assert not leaks, "canary values leaked:\n" + "\n".join(leaks[:10])
    finally:
        uninstall()


@pytest.fixture(autouse=True)
def canary_check(canary_session: Watch) -> Iterator[None]:
    """A leak fails the test that logged it (or, from a server thread, the next one)."""
    yield
    leaks = canary_session.take_leaks()
    assert not leaks, "canary values leaked:\n" + "\n".join(leaks[:10])
