"""Configuration, in one typed place: a TOML file with environment-variable overrides.

    switchboard serve --config switchboard.toml

Any leaf can be overridden with SWITCHBOARD_<SECTION>_<KEY> (e.g. SWITCHBOARD_AUTH_ISSUER,
SWITCHBOARD_SOURCES_CORE_BASE_URL), which is how secrets and per-environment values get in
without being written to the file. Unknown keys, sections and SWITCHBOARD_* variables are errors,
and so are values of the wrong type (`port = "8032"`, `port = 8032.7`): a typo must not silently
fall back to a default. Relative file paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gateway.events.mapping import SYSTEMS as WEBHOOK_SYSTEMS
from gateway.events.settings import EventSettings, WebhookSettings, read_webhooks
from gateway.limits.budget import DataBudgetSettings, LookupSettings
from gateway.limits.ratelimit import RateLimitSettings, Rule
from gateway.limits.shape import LimitSettings
from gateway.observability.logs import LogSettings
from gateway.routing.settings import RoutingSettings
from gateway.settings_env import (
    ConfigError,
    check_env,
    coerce,
    env_fields,
    env_name,
    read_section,
)
from gateway.writes.settings import WriteSettings
from sources import SYSTEMS, SourceSettings

__all__ = [
    "EXECUTION_MODES",
    "AuditSettings",
    "AuthSettings",
    "Config",
    "ConfigError",
    "IssuerSettings",
    "PolicySettings",
    "ServerSettings",
    "TrustedDocumentSettings",
    "build_config",
    "env_names",
    "load_config",
]

FILE_PATHS = (
    ("policy", "file"),
    ("trusted_documents", "manifest"),
    ("audit", "sink"),
    ("writes", "outbox_path"),
    ("routing", "rules_path"),
)
"""Keys naming a file: relative ones are resolved against the config file's folder."""
EXECUTION_MODES = ("compiled", "standard")

SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    # reference data may stand in for a failed call, 10 minutes at most; customer data never
    "knowledge": {"stale_if_error_seconds": 600.0},
}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    profile: str = "production"
    """production: introspection only for `introspection_roles`, no GraphiQL unless asked;
    development (the demo): introspection and GraphiQL for everyone."""
    graphiql: bool = False
    introspection_roles: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (CORS); none by default."""
    max_body_bytes: int = 256 * 1024
    deadline_seconds: float = 2.0
    """Each request's deadline; a client may ask for less with X-Request-Timeout-Ms."""
    deadline_margin_seconds: float = 0.05
    """Kept back from back-end calls for assembling and sending the response."""
    access_log: bool = True
    """The access line per request, stream, socket and webhook (gateway/observability/logs.py,
    in place of uvicorn's); false turns them off, as `[logging] access = false` does."""
    plan_cache_size: int = 1024
    """Compiled plans kept (least recently used dropped): per document, operation, role set and
    @include/@skip values."""
    admin_host: str = "127.0.0.1"
    admin_port: int = 8090
    """The internal port of `switchboard serve`: GET /ready and /metrics (gateway/http/admin.py).
    Keep it off the public network; the public port answers 404 for both."""
    header_timeout_seconds: float = 10.0
    """A request's headers must arrive within this many seconds (of the connection, or of the
    request's first byte on a kept-alive one), or the connection is answered 408 and closed."""
    body_timeout_seconds: float = 10.0
    """A request's body must arrive within this many seconds, and in any case within the
    request's deadline (deadline_seconds); if not: 408, code REQUEST_TIMEOUT."""
    max_connections: int = 1000
    """Open connections per process; beyond them a request is answered 503 at once (uvicorn's
    limit_concurrency, which counts the requesting connection itself)."""
    execution: str = "compiled"
    """compiled: a plan per (document, operation, roles) projects records straight into the
    response, falling back to standard per operation where unsupported; standard: graphql-core's
    field-by-field execution for every operation."""
    drain_seconds: float = 20.0
    """On SIGTERM, the most the process takes to stop: /ready answers 503 at once, requests in
    flight finish, WebSockets close with 1012 and SSE streams end (clients resume elsewhere by
    cursor); what is still open then is cut. Keep it above deadline_seconds, and the
    orchestrator's grace period above it (docs/deployment.md)."""

    def __post_init__(self) -> None:
        if not 0 < self.drain_seconds <= 3600:
            raise ValueError("drain_seconds must be between 0 and 3600")
        if not (self.header_timeout_seconds > 0 and self.body_timeout_seconds > 0):
            raise ValueError("header_timeout_seconds and body_timeout_seconds must be > 0")
        if self.max_connections < 2:
            raise ValueError("max_connections must be at least 2")
        if not 0 <= self.admin_port < 65536 or self.admin_port == self.port != 0:
            raise ValueError("admin_port must be a port other than port")
        if self.plan_cache_size < 1:
            raise ValueError("plan_cache_size must be at least 1")
        if self.execution not in EXECUTION_MODES:
            raise ValueError(f"execution must be one of {', '.join(EXECUTION_MODES)}")
        if self.profile not in ("production", "development"):
            raise ValueError("profile must be 'production' or 'development'")
        if self.profile == "production" and self.graphiql and not self.introspection_roles:
            raise ValueError("graphiql in production needs introspection_roles (who may use it)")
        if "*" in self.cors_origins:
            raise ValueError("cors_origins must list origins; '*' is refused")

    def may_introspect(self, roles: frozenset[str]) -> bool:
        return self.profile == "development" or bool(roles & set(self.introspection_roles))


@dataclass(frozen=True, slots=True)
class TrustedDocumentSettings:
    manifest: str = ""
    """A persisted-query manifest (Apollo or Relay format); empty: none registered."""
    roles: tuple[str, ...] = ("ivr",)
    """Roles that may run registered operations only (bots, IVR)."""


ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"})


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    """One trusted token issuer: tokens are matched to it by an exact `iss`."""

    issuer: str
    audience: str
    jwks_url: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    roles_claim: str = "roles"
    """Where the roles are. A name with a colon (a URL or URN: "https://example.com/roles") is
    one literal top-level claim; any other name is a path whose dots separate the levels
    ("realm_access.roles" is claims["realm_access"]["roles"], never a top-level key of that
    name). The value is a list of strings or a space/comma-separated string ("scp", "scope")."""
    roles: tuple[str, ...] = ()
    """The roles this issuer may grant; others in its tokens are dropped. "*": any role. The
    dataclass default grants none (fail closed); the config gives the primary [auth] issuer "*"
    and requires `roles` on every [[auth.issuers]]."""
    verification: bool = False
    """Whether this issuer's subjects are the workforce: an agent verified by X-Interaction-Id
    must be the CCaaS agent whose id is the token's `sub`, *and* come from such an issuer. The
    config turns it on for the primary [auth] issuer and off for [[auth.issuers]] by default."""

    def __post_init__(self) -> None:
        if not self.roles_claim or (
            ":" not in self.roles_claim and "" in self.roles_claim.split(".")
        ):
            raise ValueError("roles_claim must be a claim name or a dotted path")
        refused = set(self.algorithms) - ALLOWED_ALGORITHMS
        if refused or not self.algorithms:
            # Symmetric (HS*) and "none" are never accepted: keys come from a public JWKS.
            raise ValueError(f"algorithms must be among {sorted(ALLOWED_ALGORITHMS)}")
        if not self.jwks_url.startswith(("http://", "https://")):
            raise ValueError("jwks_url must be an http(s) URL")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """[auth] names the primary issuer; [[auth.issuers]] adds more."""

    issuers: tuple[IssuerSettings, ...]
    leeway: float = 30.0
    jwks_refresh_seconds: float = 300.0
    jwks_min_refetch_seconds: float = 10.0
    jwks_fetch_seconds: float = 5.0
    """The budget of one JWKS fetch, retries and Retry-After included: the most a token with
    an unknown `kid` waits for the IdP."""
    max_token_bytes: int = 8192
    verified_cache_size: int = 10_000
    """Tokens kept verified (least recently used dropped) until their `exp`, the next JWKS
    refresh or a change of their issuer's keys, whichever is first; 0: verify every request."""

    def __post_init__(self) -> None:
        if self.verified_cache_size < 0:
            raise ValueError("verified_cache_size must be 0 or more")


@dataclass(frozen=True, slots=True)
class PolicySettings:
    file: str = ""
    """The role policy (TOML); empty: the default policy shipped in gateway/masking/policy.toml."""
    hash_key: str = ""
    """The deployment's secret for the `hash` treatment (set SWITCHBOARD_POLICY_HASH_KEY); empty:
    a random key per process, so hashes are not stable across restarts or replicas."""


@dataclass(frozen=True, slots=True)
class AuditSettings:
    sink: str = "stdout"
    """Where audit events go, one JSON line each: "stdout", "stderr" or a file path."""
    max_pending: int = 1024
    """Requests whose lines may wait for the sink; when all are taken, operations are refused
    (503 AUDIT_UNAVAILABLE) rather than lines dropped."""

    def __post_init__(self) -> None:
        if self.max_pending < 1:
            raise ValueError("max_pending must be at least 1")


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """Traces (docs/operations.md). Metrics are always on, at GET /metrics on the internal port."""

    otlp_endpoint: str = ""
    """The OTLP/HTTP collector's base URL (e.g. http://otel-collector:4318): traces on. Empty:
    on only if OTEL_EXPORTER_OTLP_ENDPOINT is set. Needs the `[otel]` extra installed."""
    service_name: str = "switchboard"
    sample_ratio: float = 1.0
    """The share of traces recorded (head sampling by trace id; a back-end call follows its
    operation, and an operation the caller's `traceparent`). 1.0 records every one;
    docs/performance.md "Tracing overhead" has what each costs."""
    otel_environment: bool = False
    """The standard OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set: traces on, the
    exporter configured by those variables (set by the loader from the environment)."""
    otel_sampler: bool = False
    """The standard OTEL_TRACES_SAMPLER is set: it decides which traces starting here are
    recorded, instead of `sample_ratio` at 1.0 (set by the loader from the environment)."""

    def __post_init__(self) -> None:
        if self.otlp_endpoint and not self.otlp_endpoint.startswith(("http://", "https://")):
            raise ValueError("otlp_endpoint must be an http:// or https:// URL")
        if not 0.0 < self.sample_ratio <= 1.0:
            raise ValueError("sample_ratio must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerSettings
    auth: AuthSettings
    sources: dict[str, SourceSettings] = field(default_factory=dict)
    policy: PolicySettings = field(default_factory=PolicySettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    trusted_documents: TrustedDocumentSettings = field(default_factory=TrustedDocumentSettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    data_budget: DataBudgetSettings = field(default_factory=DataBudgetSettings)
    lookups: LookupSettings = field(default_factory=LookupSettings)
    webhooks: dict[str, WebhookSettings] = field(default_factory=dict)
    events: EventSettings = field(default_factory=EventSettings)
    writes: WriteSettings = field(default_factory=WriteSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    logging: LogSettings = field(default_factory=LogSettings)


def load_config(path: Path | str | None, env: Mapping[str, str] | None = None) -> Config:
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        _anchor_paths(raw, Path(path).resolve().parent)
    return build_config(raw, os.environ if env is None else env)


def _anchor_paths(raw: dict[str, Any], folder: Path) -> None:
    """`[policy] file = "policy.toml"` means the one next to the config file, wherever the
    gateway was started from (values from the environment stay relative to the working folder)."""
    for section, key in FILE_PATHS:
        table = raw.get(section)
        if not isinstance(table, dict):
            continue  # build_config names the mistake
        value = table.get(key)
        if not isinstance(value, str) or not value or Path(value).is_absolute():
            continue
        if section == "audit" and value in ("stdout", "stderr"):
            continue
        table[key] = str(folder / value)


def env_names() -> list[str]:
    """Every SWITCHBOARD_* variable the configuration reads, sorted: one (section, settings
    class) per `_section` call of build_config (a test checks every Config field is here)."""
    layout: list[tuple[str, type[Any]]] = [
        ("server", ServerSettings),
        ("auth", IssuerSettings),
        ("auth", AuthSettings),
        *((f"sources.{name}", SourceSettings) for name in SYSTEMS),
        ("policy", PolicySettings),
        ("audit", AuditSettings),
        ("limits", LimitSettings),
        ("limits.data_budget", DataBudgetSettings),
        ("limits.lookups", LookupSettings),
        ("trusted_documents", TrustedDocumentSettings),
        ("rate_limit", RateLimitSettings),
        *((f"webhooks.{name}", WebhookSettings) for name in WEBHOOK_SYSTEMS),
        ("events", EventSettings),
        ("writes", WriteSettings),
        ("telemetry", TelemetrySettings),
        ("routing", RoutingSettings),
        ("logging", LogSettings),
    ]
    names = {
        env_name(where, spec.name) for where, cls in layout for spec in env_fields(cls).values()
    }
    return sorted(names)


def build_config(raw: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    check_env(env, env_names())
    sections = {"server", "auth", "sources", "policy", "audit", "limits", "trusted_documents"}
    more = {"rate_limit", "webhooks", "events", "writes", "telemetry", "routing", "logging"}
    unknown = set(raw) - sections - more
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    server = read_section(ServerSettings, "server", raw.get("server", {}), env)
    auth = _auth(raw.get("auth", {}), env)
    raw_sources = raw.get("sources", {})
    if not isinstance(raw_sources, Mapping):
        raise ConfigError("[sources] must be a table")
    extra = set(raw_sources) - set(SYSTEMS)
    if extra:
        raise ConfigError(f"unknown source(s): {', '.join(sorted(extra))}")
    sources = {
        name: read_section(
            SourceSettings,
            f"sources.{name}",
            {"name": name, **SOURCE_DEFAULTS.get(name, {}), **raw_sources.get(name, {})},
            env,
        )
        for name in SYSTEMS
    }
    policy = read_section(PolicySettings, "policy", raw.get("policy", {}), env)
    audit = read_section(AuditSettings, "audit", raw.get("audit", {}), env)
    limits = raw.get("limits", {})
    if not isinstance(limits, Mapping):
        raise ConfigError("[limits] must be a table")
    budgets = {k: limits[k] for k in ("data_budget", "lookups") if k in limits}
    limits = {k: v for k, v in limits.items() if k not in budgets}
    return Config(
        server=server,
        auth=auth,
        sources=sources,
        policy=policy,
        audit=audit,
        limits=read_section(LimitSettings, "limits", limits, env),
        trusted_documents=read_section(
            TrustedDocumentSettings, "trusted_documents", raw.get("trusted_documents", {}), env
        ),
        rate_limit=_rate_limit(raw.get("rate_limit", {}), env),
        data_budget=_per_role(DataBudgetSettings, "data_budget", budgets, env),
        lookups=_per_role(LookupSettings, "lookups", budgets, env),
        webhooks=read_webhooks(raw.get("webhooks", {}), env),
        events=read_section(EventSettings, "events", raw.get("events", {}), env),
        writes=read_section(WriteSettings, "writes", raw.get("writes", {}), env),
        telemetry=_telemetry(raw.get("telemetry", {}), env),
        routing=read_section(RoutingSettings, "routing", raw.get("routing", {}), env),
        logging=read_section(LogSettings, "logging", raw.get("logging", {}), env),
    )


def _telemetry(table: Any, env: Mapping[str, str]) -> TelemetrySettings:
    settings: TelemetrySettings = read_section(TelemetrySettings, "telemetry", table, env)
    otel = bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    return replace(
        settings,
        otel_environment=settings.otel_environment or otel,
        otel_sampler=settings.otel_sampler or bool(env.get("OTEL_TRACES_SAMPLER")),
    )


def _per_role(cls: type[Any], name: str, tables: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """[limits.<name>] with a `roles` table of {role: limit} over the default ones."""
    table = tables.get(name, {})
    where = f"limits.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{where}] must be a table")
    roles = table.get("roles")
    if roles is not None and (
        not isinstance(roles, Mapping)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in roles.values())
    ):
        raise ConfigError(f"[{where}.roles] must map roles to whole numbers")
    common = {k: v for k, v in table.items() if k != "roles"}
    settings = read_section(cls, where, common, env)
    if roles is None:
        return settings
    try:
        return replace(settings, roles={**settings.roles, **roles})
    except ValueError as exc:
        raise ConfigError(f"[{where}] {exc}") from None


def _rate_limit(table: Any, env: Mapping[str, str]) -> RateLimitSettings:
    if not isinstance(table, Mapping):
        raise ConfigError("[rate_limit] must be a table")
    roles = table.get("roles", {})
    if not isinstance(roles, Mapping):
        raise ConfigError("[rate_limit.roles.<role>] must be tables")
    rules = {}
    for role, rule in roles.items():
        where = f"rate_limit.roles.{role}"
        if not isinstance(rule, Mapping) or set(rule) - {"rate", "burst"}:
            raise ConfigError(f"[{where}] takes rate and burst")
        rate = coerce(rule.get("rate", 0), "float", f"{where}.rate")
        burst = coerce(rule.get("burst", 0), "int", f"{where}.burst")
        try:
            rules[role] = Rule(rate, burst)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[{where}] {exc}") from None
    common = {k: v for k, v in table.items() if k != "roles"}
    settings: RateLimitSettings = read_section(RateLimitSettings, "rate_limit", common, env)
    return RateLimitSettings(
        enabled=settings.enabled,
        rate=settings.rate,
        burst=settings.burst,
        redis_url=settings.redis_url,
        roles=rules,
    )


def _auth(table: Any, env: Mapping[str, str]) -> AuthSettings:
    if not isinstance(table, Mapping):
        raise ConfigError("[auth] must be a table")
    issuer_keys = {f.name for f in fields(IssuerSettings)}
    primary = {k: v for k, v in table.items() if k in issuer_keys}
    extra = table.get("issuers", [])
    if not isinstance(extra, list):
        raise ConfigError("[[auth.issuers]] must be an array of tables")
    common = {k: v for k, v in table.items() if k not in issuer_keys and k != "issuers"}
    # the primary issuer is the workforce IdP: any role, and its agents may be verified
    issuers = [
        read_section(IssuerSettings, "auth", {"roles": ["*"], "verification": True, **primary}, env)
    ]
    for i, t in enumerate(extra):
        if not isinstance(t, Mapping) or "roles" not in t:
            # fail closed: a partner or bot IdP names the roles it may grant (or ["*"])
            raise ConfigError(f"[auth.issuers.{i}] needs roles = [...]: the roles it may grant")
        issuers.append(read_section(IssuerSettings, f"auth.issuers.{i}", t, {}))
    names = [i.issuer for i in issuers]
    if len(set(names)) != len(names):
        raise ConfigError("[auth] the same issuer is configured twice")
    settings: AuthSettings = read_section(
        AuthSettings, "auth", {**common, "issuers": tuple(issuers)}, env
    )
    return settings
