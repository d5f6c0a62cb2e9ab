"""Loading config.toml into one typed, frozen Config: the only place that reads the file.

Every setting is declared once here, with its default; config.toml at the top of the
repository documents each one (a test keeps the two in step).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from storage.config_privacy import PrivacyConfig, RetentionConfig

REPO_DIR = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = REPO_DIR / "templates"


class ConfigError(Exception):
    """A setting is unknown or has a bad value; the message names the key."""


@dataclass(frozen=True)
class ForumConfig:
    name: str = "Forum Relais"
    address: str = "forum@localhost"
    base_url: str = "http://127.0.0.1:8080"
    default_language: str = "fr"  # a language with a catalogue in translations/, or "en"
    timezone: str = "Europe/Paris"


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 8025
    max_message_size: int = 25 * 1024 * 1024


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = ""
    session_days: int = 30
    sign_in_link_minutes: int = 30
    sign_in_limit_per_address: int = 5
    sign_in_limit_per_ip: int = 20
    trusted_proxies: int = 0
    sign_in_by_mail: bool = True
    post_limit_per_hour: int = 30


@dataclass(frozen=True)
class StorageConfig:
    database_url: str = "sqlite:///var/relais.sqlite3"
    data_dir: str = "var"


@dataclass(frozen=True)
class SearchConfig:
    index_dir: str = "var/index"
    batch_size: int = 500
    writer_memory_mb: int = 128
    reindex_processes: int = 1
    min_prefix_chars: int = 3
    max_prefix_words: int = 20
    max_terms: int = 10
    max_reads_percent: int = 100
    cpu_limit_ms: int = 300


@dataclass(frozen=True)
class DeliveryConfig:
    relay_host: str = ""
    relay_port: int = 25
    spool_dir: str = "var/spool"
    relay_starttls: bool = True
    default_mode: Literal["all", "topics", "digest", "none"] = "all"
    interval_seconds: int = 5
    retry_base_seconds: int = 300
    give_up_after_hours: int = 120
    copy_to_author: bool = False
    subject_tag: str = "[Forum]"
    from_rewrite: Literal["always", "never"] = "always"
    digest_hour: int = 7
    dkim_selector: str = ""
    dkim_key_file: str = ""
    bounce_threshold: int = 5
    bounce_stale_days: int = 7


@dataclass(frozen=True)
class ArchiveConfig:
    visibility: Literal["members", "public"] = "members"


@dataclass(frozen=True)
class ModerationConfig:
    nonmember_action: Literal["hold", "reject", "accept"] = "hold"
    trusted_authserv_id: str = ""
    confirm_hours: int = 72
    answers_per_address_per_day: int = 5


@dataclass(frozen=True)
class ReportingConfig:
    recipients: list[str] = field(default_factory=list)
    frequency: Literal["monthly", "weekly"] = "monthly"
    hour: int = 8


@dataclass(frozen=True)
class ThreadingConfig:
    subject_fallback_days: int = 30


@dataclass(frozen=True)
class OidcConfig:
    issuer: str = ""
    discovery_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    client_secret_file: str = ""
    scopes: list[str] = field(default_factory=lambda: ["openid", "email", "profile"])
    email_claim: str = "email"
    name_claim: str = "name"
    organisation_claim: str = ""
    groups_claim: str = ""
    member_groups: list[str] = field(default_factory=list)
    moderator_group: str = ""
    provision: Literal["existing", "create"] = "existing"
    button_label: str = "Se connecter avec l'Espace membres"
    algorithms: list[str] = field(default_factory=lambda: ["RS256"])
    leeway_seconds: int = 60
    timeout_seconds: int = 10

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)


# ID token signatures Relais accepts: public-key ones only ("none" and the HMAC family,
# keyed by the client secret, are refused).
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


@dataclass(frozen=True)
class Config:
    forum: ForumConfig = field(default_factory=ForumConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    web: WebConfig = field(default_factory=WebConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    threading: ThreadingConfig = field(default_factory=ThreadingConfig)
    reporting: ReportingConfig = field(default_factory=ReportingConfig)
    oidc: OidcConfig = field(default_factory=OidcConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    # Folder that relative paths are resolved against (the config file's folder).
    base_dir: Path = field(default_factory=Path.cwd)

    # Derived values, so that no caller re-derives them differently.
    @property
    def domain(self) -> str:
        return self.forum.address.rpartition("@")[2].lower()

    @property
    def local_part(self) -> str:
        return self.forum.address.rpartition("@")[0].lower()

    def path(self, value: str) -> Path:
        """A configured path, relative ones taken from the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def database_url(self) -> str:
        url = self.storage.database_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith("sqlite:////"):
            rest = url[len(prefix):]
            if rest and rest != ":memory:":
                return prefix + str(self.path(rest))
        return url

    @property
    def data_dir(self) -> Path:
        return self.path(self.storage.data_dir)

    @property
    def index_dir(self) -> Path:
        return self.path(self.search.index_dir)

    @property
    def spool_dir(self) -> Path:
        return self.path(self.delivery.spool_dir)

    @property
    def dkim_key_file(self) -> Path | None:
        return self.path(self.delivery.dkim_key_file) if self.delivery.dkim_key_file else None


_SECTION_TYPES = {k: v for k, v in get_type_hints(Config).items() if k != "base_dir"}


def _check_value(key: str, hint: Any, value: Any) -> Any:
    if get_origin(hint) is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return list(value)
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ConfigError(f"{key}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build_section(name: str, values: Any) -> Any:
    cls = _SECTION_TYPES[name]
    if not isinstance(values, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = get_type_hints(cls)
    unknown = set(values) - set(hints)
    if unknown:
        raise ConfigError(f"unknown setting {name}.{sorted(unknown)[0]}")
    checked = {k: _check_value(f"{name}.{k}", hints[k], v) for k, v in values.items()}
    return cls(**checked)


# Counts and durations that must be at least 1.
POSITIVE_SETTINGS = (
    "delivery.interval_seconds",
    "delivery.retry_base_seconds",
    "delivery.give_up_after_hours",
    "web.session_days",
    "web.sign_in_link_minutes",
    "web.sign_in_limit_per_address",
    "web.sign_in_limit_per_ip",
    "web.post_limit_per_hour",
    "delivery.bounce_threshold",
    "delivery.bounce_stale_days",
    "search.batch_size",
    "search.writer_memory_mb",
    "search.reindex_processes",
    "search.min_prefix_chars",
    "search.max_prefix_words",
    "search.max_terms",
    "search.max_reads_percent",
    "search.cpu_limit_ms",
    "moderation.confirm_hours",
    "moderation.answers_per_address_per_day",
    *(f"retention.{name}" for name in RetentionConfig.__dataclass_fields__),
)


def _validate(config: Config) -> None:
    if "@" not in config.forum.address or config.forum.address.startswith("@"):
        raise ConfigError(f"forum.address: {config.forum.address!r} is not an email address")
    if "+" in config.local_part or config.local_part.endswith(("-request", "-bounces")):
        raise ConfigError("forum.address: the local part may not contain '+' nor end in -request/-bounces")
    for key, port in (("smtp.port", config.smtp.port), ("web.port", config.web.port),
                      ("delivery.relay_port", config.delivery.relay_port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"{key}: {port} is not a TCP port")
    if config.smtp.max_message_size < 1024:
        raise ConfigError("smtp.max_message_size: must be at least 1024 bytes")
    if not config.forum.base_url.startswith(("http://", "https://")):
        raise ConfigError("forum.base_url: must start with http:// or https://")
    from storage.languages import check_spoken  # it reads REPO_DIR from here
    check_spoken("forum.default_language", config.forum.default_language)
    for key in POSITIVE_SETTINGS:
        section, name = key.split(".")
        if getattr(getattr(config, section), name) < 1:
            raise ConfigError(f"{key}: must be 1 or more")
    if config.web.trusted_proxies < 0:
        raise ConfigError("web.trusted_proxies: must be 0 or more")
    if not 0 <= config.delivery.digest_hour <= 23:
        raise ConfigError("delivery.digest_hour: must be an hour from 0 to 23")
    if bool(config.delivery.dkim_selector) != bool(config.delivery.dkim_key_file):
        raise ConfigError("delivery.dkim_selector: set it together with delivery.dkim_key_file (or neither)")
    for address in config.reporting.recipients:
        if "@" not in address or address.startswith("@") or any(c in address for c in " <>,;"):
            raise ConfigError(f"reporting.recipients: {address!r} is not an email address")
    if not 0 <= config.reporting.hour <= 23:
        raise ConfigError("reporting.hour: must be an hour from 0 to 23")
    if config.threading.subject_fallback_days < 0:
        raise ConfigError("threading.subject_fallback_days: must be 0 or more")
    _validate_oidc(config)


def _validate_oidc(config: Config) -> None:
    oidc = config.oidc
    if not oidc.enabled:
        if not config.web.sign_in_by_mail:
            raise ConfigError("web.sign_in_by_mail: set oidc.issuer before switching the emailed link off, "
                              "or nobody can sign in")
        return
    if not oidc.issuer.startswith(("https://", "http://")):
        raise ConfigError("oidc.issuer: must start with https:// (or http:// for a provider on this machine)")
    if not oidc.client_id:
        raise ConfigError("oidc.client_id: needed when oidc.issuer is set")
    if bool(oidc.client_secret) == bool(oidc.client_secret_file):
        raise ConfigError("oidc.client_secret: set it or oidc.client_secret_file (one of the two)")
    if "openid" not in oidc.scopes:
        raise ConfigError("oidc.scopes: must include 'openid'")
    if not oidc.algorithms or not set(oidc.algorithms) <= set(OIDC_ALGORITHMS):
        raise ConfigError(f"oidc.algorithms: choose among {', '.join(OIDC_ALGORITHMS)}")
    if not oidc.email_claim:
        raise ConfigError("oidc.email_claim: people are matched by their e-mail address; name its claim")
    if (oidc.member_groups or oidc.moderator_group) and not oidc.groups_claim:
        raise ConfigError("oidc.groups_claim: needed for oidc.member_groups and oidc.moderator_group")
    if not 0 <= oidc.leeway_seconds <= 300:
        raise ConfigError("oidc.leeway_seconds: must be from 0 to 300")
    if oidc.timeout_seconds < 1:
        raise ConfigError("oidc.timeout_seconds: must be 1 or more")


def oidc_client_secret(config: Config) -> str:
    """The client secret: oidc.client_secret, else the first line of oidc.client_secret_file."""
    if config.oidc.client_secret:
        return config.oidc.client_secret
    try:
        return config.path(config.oidc.client_secret_file).read_text().strip()
    except OSError as e:
        raise ConfigError(f"oidc.client_secret_file: {e}") from None


def config_from_mapping(data: dict[str, Any], base_dir: Path | None = None) -> Config:
    """Build a Config from parsed TOML (or a test's dict); raises ConfigError naming the key."""
    unknown = set(data) - set(_SECTION_TYPES)
    if unknown:
        raise ConfigError(f"unknown section [{sorted(unknown)[0]}]")
    sections = {name: _build_section(name, values) for name, values in data.items()}
    config = Config(**sections, base_dir=(base_dir or Path.cwd()).resolve())
    _validate(config)
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config named by `path`, else $RELAIS_CONFIG, else the embedded defaults."""
    path = path or os.environ.get("RELAIS_CONFIG")
    if not path:
        return config_from_mapping({})
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    return config_from_mapping(data, base_dir=path.resolve().parent)


def secret_key(config: Config) -> str:
    """The signing key: web.secret_key if set, else one generated once into the data folder."""
    if config.web.secret_key:
        return config.web.secret_key
    key_file = config.data_dir / "secret_key"
    try:
        existing = key_file.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    # Written whole into a file of its own, then linked into place: a full disk leaves no
    # empty key behind (it would sign with ""), and of two processes starting together the
    # second finds the first's key (link refuses to replace).
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = key_file.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            if key_file.read_text().strip():
                return key_file.read_text().strip()
            os.replace(tmp, key_file)  # an empty key left by an older Relais on a full disk
        return key
    finally:
        tmp.unlink(missing_ok=True)
