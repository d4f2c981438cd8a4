"""Configuration, read once from ``MAIL2FAX_*`` environment variables and ``.env``, then frozen.

Each stage is handed its own section, never the whole object.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from mail2fax.errors import ConfigError
from mail2fax.models import Resolution

ENV_PREFIX = "MAIL2FAX_"
MiB = 1024 * 1024

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SmtpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(2525, ge=0, le=65535)
    hostname: str | None = None
    timeout: float = Field(300.0, gt=0)
    transaction_timeout: float = Field(3600.0, gt=0)
    max_sessions: int = Field(200, ge=1)
    max_sessions_per_client: int = Field(20, ge=1)
    max_recipients: int = Field(100, ge=1)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_port: int | None = Field(None, ge=0, le=65535)
    tls_min_version: Literal["1.0", "1.1", "1.2", "1.3"] = "1.2"
    require_starttls: bool = False
    allow_plain_auth_from_trusted: bool = False
    processes: int | None = Field(None, ge=1)


class AuthSettings(Section):
    users: dict[str, SecretStr] = Field(default_factory=dict)
    users_file: Path | None = None
    own_addresses_only: bool = False
    failures_before_delay: int = Field(3, ge=0)
    max_delay: float = Field(30.0, ge=0)


class RingCentralSettings(Section):
    server_url: str = "https://platform.ringcentral.com"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    jwt: SecretStr | None = None
    username: str | None = None
    extension: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(60.0, gt=0)
    heavy_limit: int = Field(10, ge=1)
    medium_limit: int = Field(40, ge=1)
    light_limit: int = Field(50, ge=1)
    auth_limit: int = Field(5, ge=1)
    limit_window: float = Field(60.0, gt=0)
    listing_grace: float = Field(120.0, ge=0)


class FaxOutSettings(Section):
    url: str = "https://service.ringcentral.com/faxapi.asp"
    username: str | None = None
    extension: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(120.0, gt=0)


class RelaySettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    tls: Literal["none", "starttls", "implicit"] = "none"
    timeout: float = Field(30.0, gt=0)


class NotifySettings(Section):
    from_: str = Field(default_factory=lambda: f"mail2fax@{socket.gethostname()}", alias="from")
    operator: str | None = None
    interval: float = Field(5.0, gt=0)


class TrackSettings(Section):
    interval: float = Field(30.0, gt=0)
    queued_timeout: float = Field(24 * 3600.0, gt=0)


class SubmitSettings(Section):
    interval: float = Field(5.0, gt=0)
    batch: int = Field(10, ge=1)


class RetrySettings(Section):
    min_backoff: float = Field(30.0, gt=0)
    max_backoff: float = Field(3600.0, gt=0)
    lifetime: float = Field(2 * 24 * 3600.0, gt=0)
    auth_backoff: float = Field(900.0, gt=0)
    # Unexpected errors one job may cause in a stage before the stage parks it.
    internal_errors: int = Field(5, ge=1)


class QuotaSettings(Section):
    sender_per_hour: int | None = Field(None, ge=0)
    sender_per_day: int | None = Field(None, ge=0)
    global_per_hour: int | None = Field(None, ge=0)
    global_per_day: int | None = Field(None, ge=0)


class RetentionSettings(Section):
    documents: float = Field(24 * 3600.0, ge=0)


class RenderSettings(Section):
    timeout: float = Field(30.0, gt=0)
    workers: int = Field(1, ge=1, le=16)
    memory_mb: int = Field(1024, ge=256)


class MetricsSettings(Section):
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535)


class HealthSettings(Section):
    status_mail_max_age: float = Field(3600.0, gt=0)
    submitting_max_age: float = Field(900.0, gt=0)


DEFAULT_BLOCKED_TYPES = ("PREMIUM_RATE", "SHARED_COST", "PERSONAL_NUMBER", "UAN")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    backend: Literal["ringcentral", "faxout", "dry-run"]
    smtp: SmtpSettings = SmtpSettings()
    auth: AuthSettings = AuthSettings()
    fax_domains: list[str] = Field(default_factory=lambda: ["fax.local"])
    default_region: str = "US"
    data_dir: Path = Path("./var")
    database_url: SecretStr | None = None
    lease: float = Field(60.0, ge=1.0)
    ringcentral: RingCentralSettings = RingCentralSettings()
    faxout: FaxOutSettings = FaxOutSettings()
    relay: RelaySettings = RelaySettings()
    notify: NotifySettings = NotifySettings()
    track: TrackSettings = TrackSettings()
    submit: SubmitSettings = SubmitSettings()
    retry: RetrySettings = RetrySettings()
    quota: QuotaSettings = QuotaSettings()
    retention: RetentionSettings = RetentionSettings()
    metrics: MetricsSettings = MetricsSettings()
    render: RenderSettings = RenderSettings()
    health: HealthSettings = HealthSettings()
    body: Literal["auto", "always", "never"] = "auto"
    max_document_bytes: int = Field(50_000_000, gt=0)
    fax_resolution: Resolution = Resolution.HIGH
    cover: str | None = None
    trusted_networks: list[IPNetwork] = Field(
        default_factory=lambda: [
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        ]
    )
    allowed_senders: list[str] = Field(default_factory=list)
    allowed_countries: list[str] | None = None
    blocked_number_types: list[str] = Field(default_factory=lambda: list(DEFAULT_BLOCKED_TYPES))
    allowed_prefixes: list[str] = Field(default_factory=list)
    denied_prefixes: list[str] = Field(default_factory=list)
    duplicate_window: float = Field(24 * 3600.0, ge=0)
    shutdown_timeout: float = Field(30.0, gt=0)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("fax_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [domain.strip().lower().rstrip(".") for domain in value if domain.strip()]

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.strip().upper()

    @property
    def effective_allowed_countries(self) -> list[str]:
        if self.allowed_countries is None:
            return [self.default_region]
        return [country.strip().upper() for country in self.allowed_countries]

    @property
    def database_path(self) -> Path:
        return self.data_dir / "mail2fax.sqlite3"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


def _variable_name(location: tuple[int | str, ...]) -> str:
    parts = [str(part) for part in location if not isinstance(part, int)]
    parts = ["FROM" if part in ("from", "from_") else part for part in parts]
    return ENV_PREFIX + "__".join(part.upper() for part in parts)


def _check_consistency(settings: Settings) -> None:
    if not settings.fax_domains:
        raise ConfigError("MAIL2FAX_FAX_DOMAINS: at least one fax domain is needed")
    if settings.backend == "ringcentral":
        rc = settings.ringcentral
        if not rc.client_id or rc.client_secret is None:
            missing = "CLIENT_ID" if not rc.client_id else "CLIENT_SECRET"
            raise ConfigError(
                f"MAIL2FAX_RINGCENTRAL__{missing} is required when MAIL2FAX_BACKEND=ringcentral"
            )
        if rc.jwt is None and (not rc.username or rc.password is None):
            raise ConfigError(
                "MAIL2FAX_RINGCENTRAL__JWT is required when MAIL2FAX_BACKEND=ringcentral "
                "(or MAIL2FAX_RINGCENTRAL__USERNAME and __PASSWORD for the password grant)"
            )
    if settings.backend == "faxout":
        if not settings.faxout.username:
            raise ConfigError("MAIL2FAX_FAXOUT__USERNAME is required when MAIL2FAX_BACKEND=faxout")
        if settings.faxout.password is None:
            raise ConfigError("MAIL2FAX_FAXOUT__PASSWORD is required when MAIL2FAX_BACKEND=faxout")
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("MAIL2FAX_DATABASE_URL: only postgresql:// URLs are supported")
    smtp = settings.smtp
    if (smtp.tls_cert is None) != (smtp.tls_key is None):
        name = "TLS_KEY" if smtp.tls_key is None else "TLS_CERT"
        raise ConfigError(f"MAIL2FAX_SMTP__{name} is required when the other TLS file is set")
    if smtp.tls_cert is None and (smtp.tls_port is not None or smtp.require_starttls):
        raise ConfigError("MAIL2FAX_SMTP__TLS_CERT is required for TLS listeners")
    for path_name in ("tls_cert", "tls_key"):
        path = getattr(smtp, path_name)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"MAIL2FAX_SMTP__{path_name.upper()}: no file at {path}")
    if settings.retry.min_backoff > settings.retry.max_backoff:
        raise ConfigError("MAIL2FAX_RETRY__MIN_BACKOFF is larger than MAIL2FAX_RETRY__MAX_BACKOFF")


def load_settings(**overrides: Any) -> Settings:
    """Read and check the settings; any problem becomes one ConfigError naming the variable."""
    try:
        settings = Settings(**overrides)
    except SettingsError as exc:
        # pydantic-settings names the field, not the variable: "... field "fax_domains" from ..."
        field = re.search(r'field "([^"]+)"', str(exc))
        name = _variable_name(tuple(field[1].split("."))) if field else "a MAIL2FAX_ variable"
        raise ConfigError(f"{name}: not valid JSON (lists and maps are written as JSON)") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = _variable_name(tuple(first["loc"]))
        if first["type"] == "missing":
            raise ConfigError(f"{name} is required") from None
        raise ConfigError(f"{name}: {first['msg']}") from None
    _check_consistency(settings)
    return settings


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, every secret replaced by ``**********``."""
    data: dict[str, Any] = settings.model_dump(mode="json", by_alias=True)
    auth_users = data.get("auth", {}).get("users", {})
    for user in auth_users:
        auth_users[user] = "**********"
    if settings.database_url is not None:
        data["database_url"] = shown_database_url(settings.database_url.get_secret_value())
    return data


def shown_database_url(url: str) -> str:
    """``url`` with its password, and every query parameter naming one, replaced by ``**********``:
    which server, database and user a bridge uses may be shown, the password may not."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "**********"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":**********"
    query = "&".join(_shown_parameter(field) for field in parts.query.split("&") if field)
    return f"{parts.scheme}://{userinfo}{at}{hosts}{parts.path}" + (f"?{query}" if query else "")


def _shown_parameter(field: str) -> str:
    name = field.partition("=")[0]
    return f"{name}=**********" if "pass" in name.lower() else field
