"""Settings: defaults, then a TOML file, then environment variables.

Every setting has a name in the TOML file (``[section] key``) and an environment
variable (``SWITCH_<SECTION>_<KEY>``, or the short names listed in ``ENV_ALIASES``).
``docs/configuration.md`` documents each one; keep the two in step.

The file is found at ``--config PATH``, else ``$SWITCH_CONFIG``, else
``<user config dir>/bill-switch/switch.toml`` if it exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "bill-switch"

# Environment variables that do not follow SWITCH_<SECTION>_<KEY>, for the settings a
# newcomer is most likely to set by hand.
ENV_ALIASES = {
    "SWITCH_DATA_DIR": ("services", "data_dir"),
    "SWITCH_DATABASE_URL": ("services", "database_url"),
    "SWITCH_REDIS_URL": ("services", "redis_url"),
}


class ConfigError(Exception):
    """A setting is missing, unknown or of the wrong type."""


@dataclass(frozen=True)
class ServicesConfig:
    """Where PostgreSQL and Redis are. Empty URLs mean: start embedded servers."""

    data_dir: str = ""
    database_url: str = ""
    redis_url: str = ""
    # A standby for reports, searches and reconciliation reads ("": the primary).
    replica_url: str = ""
    database_name: str = "switch"
    start_timeout_s: float = 60.0
    # PostgreSQL settings applied to the embedded server only.
    pg_shared_buffers: str = "256MB"
    pg_max_connections: int = 200
    pg_synchronous_commit: str = "on"

    def resolved_data_dir(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir).expanduser().resolve()
        return Path(platformdirs.user_data_dir(APP_NAME)).resolve()

    @property
    def embedded_postgres(self) -> bool:
        return not self.database_url

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url


@dataclass(frozen=True)
class LedgerConfig:
    """Group commit and limits of the ledger (see docs/ledger.md)."""

    max_batch: int = 512
    linger_s: float = 0.0
    max_queued: int = 100_000
    pipeline_depth: int = 4
    max_amount_paise: int = 1_00_00_000_00  # ₹1 crore per transfer
    default_timeout_s: float = 300.0
    batch_timeout_s: float = 30.0
    expiry_sweep_interval_s: float = 1.0
    expiry_sweep_limit: int = 10_000


@dataclass(frozen=True)
class TerminalsConfig:
    """The terminal listener and its sessions (see docs/protocol.md, "Limits")."""

    host: str = "127.0.0.1"
    port: int = 7400
    identity_key_file: str = ""  # "" = <data_dir>/switch-identity.key
    heartbeat_s: int = 30
    idle_timeout_s: float = 90.0
    handshake_timeout_s: float = 10.0
    frame_timeout_s: float = 10.0
    send_timeout_s: float = 10.0
    max_in_flight: int = 8
    rate_per_s: float = 20.0
    rate_burst: int = 40
    max_connections: int = 20_000
    # Open the port with SO_REUSEPORT: several switch processes share it, the kernel
    # spreads connections over them (``switch serve --workers N`` sets it).
    reuse_port: bool = False
    max_connections_per_ip: int = 2_000  # terminals behind one carrier address share it
    max_handshakes_per_ip: int = 256  # of those, still in their handshake
    connect_burst_per_ip: int = 300  # new connections from one address at once, then ...
    connect_rate_per_ip_per_s: float = 20.0  # ... this many a second
    busy_handshakes: int = 500  # pending handshakes (all addresses) past which ...
    busy_handshake_timeout_s: float = 2.0  # ... a new one gets this long, not the usual
    shutdown_grace_s: float = 10.0
    answer_deadline_s: float = 8.0  # a pay is answered by then: success, failed or pending


@dataclass(frozen=True)
class PaysConfig:
    """How pays are held, and how unfinished ones are recovered (docs/pay.md)."""

    # The ledger's own deadline on a pay's hold: only a safety net. A pay's fate is
    # decided by the pay flow (the biller's answer, or recovery), never by a timer
    # that cannot know whether the biller applied it.
    hold_timeout_s: float = 7 * 86400
    recovery_idle_s: float = 30.0  # a pay untouched this long is recovered
    unknown_deadline_s: float = 300.0  # still unknown this long after it began: reverse it
    recovery_interval_s: float = 2.0
    recovery_batch: int = 200
    inquiry_backoff_base_s: float = 2.0
    inquiry_backoff_max_s: float = 300.0
    max_driving: int = 10_000  # pays driven at once in this process


@dataclass(frozen=True)
class ParamConfig:
    """One customer parameter a biller asks for (the catalogue shows it to a terminal
    with its labels, and checks it with ``regex`` before anything reaches the biller)."""

    name: str  # the wire name: a-z 0-9 _, starting with a letter
    label_en: str
    label_hi: str
    regex: str  # the whole value must match
    required: bool = True


# Every biller's consumer account until its catalogue entry says otherwise.
ACCOUNT_PARAM = ParamConfig(
    "account", "Account number", "खाता संख्या", r"[A-Za-z0-9/_-]{1,32}", required=True
)
AMOUNT_RULES = ("exact", "partial", "advance")
CHANNELS = ("terminal", "partner", "link", "bulk")


@dataclass(frozen=True)
class BillerConfig:
    """One biller: who it is, how to reach it, and its commercial rules."""

    id: str = ""
    name: str = ""
    kind: str = "electricity"  # electricity | water
    connector: str = "http"  # http | stub
    endpoint: str = ""
    timeout_s: float = 5.0
    max_concurrency: int = 64
    max_queue: int = 2000
    # Settlement (docs/settlement.md): out of each posted pay the biller pays the agent
    # a commission (basis points of the amount) and the switch a flat fee (capped at
    # what is left of the amount); both are deducted from the biller's payout.
    fee_paise: int = 0
    commission_bps: int = 0
    region: str = ""
    district: str = ""
    # Circuit breaker (switch/actors/breaker.py).
    breaker_failure_ratio: float = 0.5
    breaker_min_calls: int = 20
    breaker_window_s: float = 10.0
    breaker_open_s: float = 5.0
    breaker_probes: int = 3
    # The catalogue (switch/catalogue/): what a terminal shows and checks. ``kind`` is
    # the category; the first parameter is the consumer account fetch and pay carry.
    params: tuple[ParamConfig, ...] = (ACCOUNT_PARAM,)
    fetch_required: bool = False  # a pay is accepted only after a fetch of the bill
    amount_rule: str = "partial"  # exact (the bill) | partial (₹1 up to it) | advance
    advance_cap_paise: int = 0  # advance: how much above the bill a pay may be
    channels: tuple[str, ...] = CHANNELS


DEFAULT_BILLERS = (
    BillerConfig(
        id="UPPCL",
        name="Uttar Pradesh Power Corporation",
        kind="electricity",
        endpoint="http://127.0.0.1:7501",
        commission_bps=50,
        fee_paise=100,
        region="Purvanchal",
        district="Varanasi",
    ),
    BillerConfig(
        id="JALSEWA",
        name="Gram Panchayat Water Scheme",
        kind="water",
        endpoint="http://127.0.0.1:7502",
        commission_bps=100,
        region="Purvanchal",
        district="Mau",
        # Two customer parameters: the connection, and (if the consumer gives it)
        # the mobile registered with it, which the scheme checks.
        params=(
            ParamConfig("account", "Connection number", "कनेक्शन संख्या", r"[A-Za-z0-9/_-]{1,32}"),
            ParamConfig(
                "mobile", "Registered mobile", "पंजीकृत मोबाइल", r"[6-9][0-9]{9}", required=False
            ),
        ),
    ),
)


@dataclass(frozen=True)
class SmsConfig:
    """The SMS gateway and the notifier's retry policy."""

    enabled: bool = True
    endpoint: str = "http://127.0.0.1:7503"
    timeout_s: float = 5.0
    batch: int = 200  # messages claimed per round (and sent in one request, below)
    batch_api: bool = True  # POST /v1/sms/batch; false: one POST /v1/sms per message
    poll_interval_s: float = 0.2
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    # A TOML file of the operator's registered template ids (pay_posted.hi = "..."):
    # empty, the project's example ids (switch/sms/templates.py).
    templates_file: str = ""


@dataclass(frozen=True)
class SettlementConfig:
    """Business days, cut-off and settlement files (docs/settlement.md)."""

    cutoff: str = "20:00"  # India Standard Time; a pay at or after it is the next day's
    holidays_file: str = ""  # TOML list of holidays; empty: the Uttar Pradesh example
    weekend: str = "sat,sun"  # weekly days off, comma-separated (empty: none)
    close_grace_s: float = 60.0  # a window closes this long after its cut-off, not before
    auto_close: bool = True  # the switch closes and settles due windows itself
    check_interval_s: float = 60.0
    max_windows_per_check: int = 31  # windows caught up per check (after a long outage)
    files_dir: str = ""  # settlement files; empty: <data_dir>/settlement
    report_timeout_s: float = 30.0  # fetching a biller's daily report
    max_report_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class OpsConfig:
    """Metrics, health and logs (docs/operations.md)."""

    enabled: bool = True  # serve /metrics, /healthz, /readyz
    host: str = "127.0.0.1"
    metrics_port: int = 9400  # 0: any free port (printed at start)
    sample_interval_s: float = 5.0  # database-derived gauges (backlogs and their ages)
    log_format: str = "text"  # text | json (one JSON object per line)
    log_level: str = "INFO"  # DEBUG adds a line per finished pay
    # The cyclic garbage collector: objects allocated before a young collection
    # (Python's default, 700, ran it thousands of times a second under load), and
    # whether what start-up made is set aside from every later collection.
    gc_gen0_threshold: int = 50_000
    gc_freeze_after_start: bool = True
    # Count trio's scheduler passes on /metrics (switch_scheduler_steps_total): a
    # benchmark's figure (cpu_bench --steps); it costs a little on every pass.
    count_scheduler_steps: bool = False


@dataclass(frozen=True)
class AdminConfig:
    """The back-office API (docs/admin-api.md)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port (printed at start)
    token_ttl_s: float = 3600.0  # a login lasts this long
    # Failed sign-ins (wrong passwords and reset codes) allowed in any sliding window
    # of ``lockout_s``: per user from one address (then that address is locked out of
    # that login, others are not), per user from all addresses together, and per
    # address whatever the users (then it gets 429 for every login).
    max_failed_logins: int = 5
    max_failed_logins_per_user: int = 50
    max_failed_logins_per_ip: int = 30
    lockout_s: float = 900.0
    # Proxies in front of the API (HAProxy, nginx): from these addresses only, the
    # client's address is read from X-Forwarded-For (its last address not a proxy).
    trusted_proxies: tuple[str, ...] = ()
    reset_code_ttl_s: float = 600.0  # an SMS password-reset code is good this long
    max_resets_per_hour: int = 3  # codes sent per user per hour (more: silently none)
    argon2_time_cost: int = 2  # argon2id: OWASP's minimum (t=2, m=19 MiB, p=1)
    argon2_memory_kib: int = 19456
    max_upload_bytes: int = 2 * 1024 * 1024  # a KYC photo or document
    max_import_bytes: int = 256 * 1024 * 1024  # a file for /v1/imports (kept on disk)
    documents_dir: str = ""  # "" = <data_dir>/documents (files named by their SHA-256)
    # Wallets without limits of their own (per agent: PUT .../wallet/limits).
    default_max_balance_paise: int = 10_00_000_00  # ₹10 lakh
    default_per_txn_paise: int = 1_00_000_00  # ₹1 lakh
    default_per_day_paise: int = 10_00_000_00
    limits_refresh_s: float = 5.0  # how soon a freeze or new limit reaches every process
    complaint_tat_transaction_h: float = 48.0  # turnaround before automatic escalation
    complaint_tat_service_h: float = 72.0
    complaint_check_interval_s: float = 60.0
    # The web pages' login cookie is sent over HTTPS only (set it behind TLS; plain
    # http://127.0.0.1 in development needs it off).
    secure_cookies: bool = False
    # Where consumers reach this API from (the receipt links SMS carry): "" = the
    # admin API's own http://host:port.
    public_url: str = ""


@dataclass(frozen=True)
class PartnersConfig:
    """The partner API for banks, the post office and aggregators (docs/partner-api.md),
    on its own port: partners reach it from outside, the back office should not be."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8443  # 0: any free port (printed at start)
    # A signed request's X-Timestamp may be this far from the switch's clock, either way;
    # its nonce is remembered for twice this, so a replay is always recognised.
    max_skew_s: float = 300.0
    key_refresh_s: float = 5.0  # how soon a revoked key or blocked partner is refused
    nonce_sweep_s: float = 60.0  # how often nonces past their window are deleted


@dataclass(frozen=True)
class GatewayConfig:
    """Payment links and the payment gateway (UPI collect) they are paid through
    (docs/payment-links.md). Off unless a gateway and its shared secret are set."""

    enabled: bool = False
    endpoint: str = "http://127.0.0.1:7504"
    # The HMAC-SHA256 key the gateway signs its callbacks with (required when enabled).
    secret: str = ""
    timeout_s: float = 5.0  # deadline of one request to the gateway
    collect_expiry_s: float = 300.0  # how long a payer has to approve a collect request
    link_ttl_s: float = 7 * 86400.0  # a link works this long after it is sent
    check_interval_s: float = 1.0  # how often unfinished orders are looked at
    backoff_base_s: float = 2.0  # an unfinished order is asked about after 2, 4, 8 ... s
    backoff_max_s: float = 120.0  # ... but at least this often
    max_orders_per_check: int = 100
    max_demand: int = 1000  # consumers in one push of demand (one request)


@dataclass(frozen=True)
class BulkConfig:
    """Institutional bill payment (docs/bulk-payments.md): payers' sites, their bills'
    checks and approvals, the payer's ERP, and pay runs by priority."""

    enabled: bool = True
    erp_endpoint: str = "http://127.0.0.1:7505"  # the payers' ERP (its liabilities)
    erp_timeout_s: float = 5.0
    tariffs_files: tuple[str, ...] = ()  # the operator's tariff tables (default: shipped)
    pay_concurrency: int = 8  # a pay run's bills paid at once
    max_bills_per_step: int = 5000  # bills in one bulk approval or one ERP round
    max_bill_file_bytes: int = 50 * 1024 * 1024
    # The daily fetch of every payer's bills from the discoms, at this time of day in
    # India ("HH:MM"); "" (the default): only when asked (POST .../fetches).
    fetch_at: str = ""
    fetch_check_s: float = 60.0  # how often the switch looks whether today's round is due


@dataclass(frozen=True)
class ConsumersConfig:
    """The consumer pages (/me): sign-in by a one-time code sent by SMS."""

    enabled: bool = True
    otp_ttl_s: float = 300.0  # a code works this long
    otp_max_guesses: int = 5  # wrong codes before the code is spent
    otp_per_hour: int = 3  # codes one mobile (or one address) may be sent in an hour
    session_ttl_s: float = 900.0  # a signed-in consumer's session, from sign-in


@dataclass(frozen=True)
class Config:
    services: ServicesConfig = field(default_factory=ServicesConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    terminals: TerminalsConfig = field(default_factory=TerminalsConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    pays: PaysConfig = field(default_factory=PaysConfig)
    settlement: SettlementConfig = field(default_factory=SettlementConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    partners: PartnersConfig = field(default_factory=PartnersConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    consumers: ConsumersConfig = field(default_factory=ConsumersConfig)
    bulk: BulkConfig = field(default_factory=BulkConfig)
    billers: tuple[BillerConfig, ...] = DEFAULT_BILLERS

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)


_SECTIONS: dict[str, type[Any]] = {
    "services": ServicesConfig,
    "ledger": LedgerConfig,
    "terminals": TerminalsConfig,
    "sms": SmsConfig,
    "pays": PaysConfig,
    "settlement": SettlementConfig,
    "ops": OpsConfig,
    "admin": AdminConfig,
    "partners": PartnersConfig,
    "gateway": GatewayConfig,
    "consumers": ConsumersConfig,
    "bulk": BulkConfig,
}


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "switch.toml"


def load(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration: defaults < TOML file < environment."""
    env = os.environ if environ is None else environ
    values: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    billers: list[dict[str, Any]] | None = None
    file_path = Path(path) if path else _config_path_from_env(env)
    if file_path is not None:
        billers = _merge_file(values, file_path)
    _merge_env(values, env)
    sections: dict[str, Any] = {name: _build_section(name, values[name]) for name in _SECTIONS}
    if billers is not None:
        sections["billers"] = _build_billers(billers)
    cfg = Config(**sections)
    _check_recovery_margin(cfg)
    if cfg.gateway.enabled and len(cfg.gateway.secret) < 16:
        raise ConfigError("[gateway] secret: at least 16 characters when the gateway is enabled")
    if cfg.bulk.fetch_at and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", cfg.bulk.fetch_at):
        raise ConfigError(f"[bulk] fetch_at: a time of day HH:MM, not {cfg.bulk.fetch_at!r}")
    if cfg.bulk.tariffs_files:  # a switch with a broken tariff table does not start
        from switch.bulk import tariffs

        try:
            tariffs.load([Path(p) for p in cfg.bulk.tariffs_files])
        except tariffs.TariffError as exc:
            raise ConfigError(f"[bulk] tariffs_files: {exc}") from None
    return cfg


def _check_recovery_margin(cfg: Config) -> None:
    """Recovery must never pick up a pay whose biller call may still be in flight: it
    acts only on pays idle longer than any biller's deadline, with margin."""
    slowest = max((b.timeout_s for b in cfg.billers), default=0.0)
    if cfg.pays.recovery_idle_s < 2 * slowest:
        raise ConfigError(
            f"[pays] recovery_idle_s ({cfg.pays.recovery_idle_s}) must be at least twice the "
            f"slowest biller's timeout_s ({slowest})"
        )


def _config_path_from_env(env: Mapping[str, str]) -> Path | None:
    if env.get("SWITCH_CONFIG"):
        return Path(env["SWITCH_CONFIG"])
    default = default_config_path()
    return default if default.exists() else None


def _merge_file(values: dict[str, dict[str, Any]], path: Path) -> list[dict[str, Any]] | None:
    """Merge the file's sections into ``values``; return its [[billers]], if any."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    billers = data.pop("billers", None)
    if billers is not None and not (
        isinstance(billers, list) and all(isinstance(b, dict) for b in billers)
    ):
        raise ConfigError(f"{path}: billers must be an array of tables ([[billers]])")
    for section, body in data.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        values[section].update(body)
    return billers


def _build_billers(raw: list[dict[str, Any]]) -> tuple[BillerConfig, ...]:
    billers = []
    for i, body in enumerate(raw):
        fields = {f.name for f in dataclasses.fields(BillerConfig)}
        unknown = set(body) - fields
        if unknown:
            raise ConfigError(f"[[billers]] #{i + 1}: unknown setting(s) {sorted(unknown)}")
        kwargs = {
            k: _coerce("billers", k, v, type(getattr(BillerConfig(), k)))
            for k, v in body.items()
            if k != "params"
        }
        if "params" in body:
            kwargs["params"] = _build_params(i, body["params"])
        biller = BillerConfig(**kwargs)
        _check_catalogue(biller)
        if not biller.id or not biller.id.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"[[billers]] #{i + 1}: id must be 1-32 of A-Z a-z 0-9 _ -")
        if biller.kind not in ("electricity", "water"):
            raise ConfigError(f"[[billers]] {biller.id}: kind must be electricity or water")
        if biller.connector not in ("http", "stub"):
            raise ConfigError(f"[[billers]] {biller.id}: connector must be http or stub")
        if biller.connector == "http" and not biller.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"[[billers]] {biller.id}: endpoint must be an http(s) URL")
        billers.append(biller)
    ids = [b.id for b in billers]
    if len(ids) != len(set(ids)):
        raise ConfigError("[[billers]]: ids must be unique")
    return tuple(billers)


PARAM_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
MAX_PARAMS = 4


def _build_params(i: int, raw: Any) -> tuple[ParamConfig, ...]:
    """[[billers.params]] tables: each a name, two labels and a regex."""
    where = f"[[billers]] #{i + 1} params"
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ConfigError(f"{where}: must be an array of tables ([[billers.params]])")
    fields = {f.name for f in dataclasses.fields(ParamConfig)}
    params = []
    for body in raw:
        if set(body) - fields or not {"name", "label_en", "label_hi", "regex"} <= set(body):
            raise ConfigError(f"{where}: each needs name, label_en, label_hi, regex (required)")
        params.append(ParamConfig(**{k: v for k, v in body.items()}))
    return tuple(params)


def _check_catalogue(biller: BillerConfig) -> None:
    where = f"[[billers]] {biller.id}"
    names = [p.name for p in biller.params]
    if not 1 <= len(names) <= MAX_PARAMS or len(set(names)) != len(names):
        raise ConfigError(f"{where}: 1-{MAX_PARAMS} customer parameters, each name once")
    for p in biller.params:
        if not p.name[:1].isalpha() or not set(p.name) <= PARAM_NAME_CHARS or len(p.name) > 32:
            raise ConfigError(f"{where}: parameter name {p.name!r}: a-z 0-9 _, 1-32")
        try:
            re.compile(p.regex)
        except re.error as exc:
            raise ConfigError(f"{where}: parameter {p.name}: regex {p.regex!r}: {exc}") from exc
    if not biller.params[0].required:
        raise ConfigError(f"{where}: the first parameter (the consumer account) is required")
    if biller.amount_rule not in AMOUNT_RULES:
        raise ConfigError(f"{where}: amount_rule must be one of {', '.join(AMOUNT_RULES)}")
    if (biller.amount_rule == "advance") != (biller.advance_cap_paise > 0):
        raise ConfigError(f"{where}: advance_cap_paise > 0 goes with amount_rule = advance")
    if not biller.channels or not set(biller.channels) <= set(CHANNELS):
        raise ConfigError(f"{where}: channels must be some of {', '.join(CHANNELS)}")


def _merge_env(values: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    for name, (section, key) in ENV_ALIASES.items():
        if name in env:
            values[section][key] = env[name]
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            name = f"SWITCH_{section.upper()}_{f.name.upper()}"
            if name in env:
                values[section][f.name] = env[name]


def _build_section(section: str, raw: dict[str, Any]) -> Any:
    cls = _SECTIONS[section]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"unknown setting [{section}] {key}")
        default = getattr(cls(), key)
        kwargs[key] = _coerce(section, key, value, type(default))
    return cls(**kwargs)


def _coerce(section: str, key: str, value: Any, kind: type[Any]) -> Any:
    """Environment values arrive as strings; TOML values already have types."""
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(value)
            return value.lower() in {"1", "true", "yes"}
        if kind is int and isinstance(value, float):
            raise ValueError(value)
        if kind is tuple:  # a TOML array, or a comma-separated environment value
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}] {key} must be {kind.__name__}, got {value!r}") from exc
