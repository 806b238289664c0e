"""Configuration: environment (``LOTSE_…``), ``.env`` and a TOML file, validated with pydantic.

Precedence, highest first: environment variables, the ``.env`` file, the TOML config file,
built-in defaults. Nested keys use ``__`` in the environment: ``LOTSE_BOT__USER_ID`` is
``[bot] user_id`` in the file.

Secrets (the bot's password or access token, the pseudonym key) can be read from files so
that they never have to live in the config file or the environment: ``password_file`` etc.

A bad configuration never starts the bot: :func:`load_settings` raises :class:`ConfigError`
carrying one plain line per problem (which key, what is wrong, what is expected).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.ids import RoomAlias, RoomID, UserID, parse_room_ref, parse_user_id

UserIDField = Annotated[str, AfterValidator(parse_user_id)]
RoomRefField = Annotated[str, AfterValidator(parse_room_ref)]

CONFIG_ENV = "LOTSE_CONFIG"
DEFAULT_CONFIG_FILE = Path("lotse.toml")
# Written by `lotse demo`: in a checkout after `python3 dev.py run`, the CLI finds the demo.
DEMO_CONFIG_FILE = Path(".lotse-demo") / "lotse.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_secret_file(path: Path | None) -> SecretStr | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not text:
        raise ValueError(f"secret file {path} is empty")
    return SecretStr(text)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HomeserverSettings(_Section):
    url: str = Field(description="Client-server API base URL, e.g. https://matrix.example.org")
    # Synapse admin API use (purge, media deletion, rate-limit override) is optional.
    admin_api: bool = True
    # After an outage at least this long the admin room is told the homeserver is back.
    outage_notice_seconds: float = Field(default=120.0, ge=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL (expected e.g. https://matrix.example.org)")
        if value.startswith("http://") and not _is_loopback(urlsplit(value).hostname or ""):
            # The bot's password, access token and every message's metadata would cross the
            # network in clear text.
            raise ValueError(
                f"{value!r} is not encrypted: use https:// (plain http:// only for a homeserver "
                "on this machine, e.g. http://127.0.0.1:8008)"
            )
        return value


class BotSettings(_Section):
    user_id: UserIDField
    password: SecretStr | None = None
    password_file: Path | None = None
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    device_name: str = "Lotse"

    @model_validator(mode="after")
    def _credentials(self) -> BotSettings:
        if self.password is None and self.password_file is not None:
            object.__setattr__(self, "password", _read_secret_file(self.password_file))
        if self.access_token is None and self.access_token_file is not None:
            object.__setattr__(self, "access_token", _read_secret_file(self.access_token_file))
        if self.password is None and self.access_token is None:
            raise ValueError(
                "no credentials: set password (or password_file) or access_token (or access_token_file)"
            )
        return self

    @property
    def uid(self) -> UserID:
        return UserID(self.user_id)


class RoomSettings(_Section):
    admin: RoomRefField | None = None
    leadership: RoomRefField | None = None
    team: RoomRefField | None = None
    # A configured alias that does not resolve yet (or whose room is refused) is tried again
    # this often, so a room set up after the start is used without a restart.
    alias_retry_minutes: float = Field(default=5, gt=0)

    def configured(self) -> dict[str, RoomID | RoomAlias]:
        out: dict[str, RoomID | RoomAlias] = {}
        for kind in ("admin", "leadership", "team"):
            value = getattr(self, kind)
            if value is not None:
                out[kind] = parse_room_ref(value)
        return out


class RoleSettings(_Section):
    """Who is a social worker and who is an admin: listed user IDs and/or members of rooms."""

    workers: list[UserIDField] = Field(default_factory=list)
    worker_rooms: list[RoomRefField] = Field(default_factory=list)
    admins: list[UserIDField] = Field(default_factory=list)
    admin_rooms: list[RoomRefField] = Field(default_factory=list)


LocalizedText = str | dict[str, str]


def localized(value: LocalizedText, language: str, default: str) -> str:
    """A config text that may be given once or per language (``{de = "…", en = "…"}``)."""
    if isinstance(value, str):
        return value
    return value.get(language) or value.get(default) or next(iter(value.values()), "")


class OrganisationSettings(_Section):
    """Facts the consent notice names (placeholders in policies/consent/*.md)."""

    name: str = "Beratungsstelle"
    controller: LocalizedText = "(bitte in der Konfiguration eintragen: [organisation] controller)"
    dpo_contact: LocalizedText = "(bitte eintragen: [organisation] dpo_contact)"
    purposes: LocalizedText = {
        "de": "Beratung und Unterstützung, die du bei uns suchst, und die Organisation dieser Beratung.",
        "en": "The counselling and support you seek from us, and organising that counselling.",
    }
    recipients: LocalizedText = {
        "de": "Die Fachkraft, die dich berät, und bei Vertretung ihre Kolleg·innen. Niemand sonst.",
        "en": "The social worker who counsels you and, when they are away, their colleagues. No one else.",
    }
    other_channels: LocalizedText = {
        "de": "Telefon oder persönlich in der Beratungsstelle.",
        "en": "By phone or in person at our office.",
    }


class ConsentSettings(_Section):
    # Clients younger than this need a guardian's consent on file (Art. 8 GDPR); 0 = never ask.
    minimum_age: int = Field(default=16, ge=0, le=18)
    # The period the notice states when no retention policy covers consultation rooms.
    retention_days: int = Field(default=180, ge=1)
    # How often postponed erasures (rooms under a legal hold) are checked.
    erasure_check_minutes: float = Field(default=60, gt=0)
    # The data export (meine-daten) also contains the client's own messages, fetched and
    # decrypted from the homeserver at request time and never stored. Off: the export says
    # where the messages are instead.
    export_messages: bool = False


class RetentionSettings(_Section):
    # How often the sweep runs; admins can also start one with !löschlauf.
    sweep_minutes: float = Field(default=60, gt=0)
    # Post a short notice in a room when a policy starts to apply or changes.
    notices: bool = True
    # In a room nobody but the bot is in any more, purge the expired history on the server in
    # one go (admin API) instead of redacting it event by event. Never where people still are:
    # the purge takes the redactions with it, and a client that had not synced kept the text.
    purge_history: bool = False
    # A sweep stops (and tells the admin room) when this machine's clock is ahead of the
    # homeserver's by more than this: a clock that jumped must not delete anything early.
    max_clock_ahead_minutes: float = Field(default=10, gt=0)
    # How long a redacted message's metadata (time, room, pseudonym: no content) is kept as
    # evidence that it was deleted; then it is deleted too.
    evidence_days: int = Field(default=90, ge=1)
    # The policy (by name, from the policy files) that a case's room gets when it is closed
    # with !abschluss; empty: the room keeps the policy it had.
    closed_case_policy: str = "abgeschlossen"


class StatsSettings(_Section):
    # Figures from fewer distinct people than this are shown as "< k" (never below 3).
    k: int = Field(default=5, ge=3)
    # Differential-privacy noise on counts (OpenDP, discrete Laplace); None: no noise.
    epsilon: float | None = Field(default=None, gt=0)
    timezone: str = "Europe/Berlin"
    office_start: str = "08:00"
    office_end: str = "17:00"
    office_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])  # Monday = 0
    # A client message counts as answered in time within this much office time.
    target_hours: float = Field(default=8, gt=0)
    # When the weekly report goes to the leadership room (organisation time).
    report_weekday: int = Field(default=0, ge=0, le=6)
    report_time: str = "08:00"
    periods_in_trend: int = Field(default=12, ge=2, le=52)
    # Names for team rooms in reports (room ID → name); others are shown as "Team 1", "Team 2", …
    team_names: dict[str, str] = Field(default_factory=dict)
    # The leadership room's language (the whole report: text, page, PDF, CSV); default:
    # default_language.
    language: str | None = None

    @field_validator("language")
    @classmethod
    def _report_lang(cls, value: str | None) -> str | None:
        from bot.i18n import available_languages

        languages = available_languages()
        if value is not None and value not in languages:
            raise ValueError(f"{value!r} has no message catalog (available: {', '.join(languages)})")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Berlin)") from None
        return value

    @field_validator("office_start", "office_end", "report_time")
    @classmethod
    def _time(cls, value: str) -> str:
        import datetime as dt

        try:
            dt.time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day (HH:MM)") from None
        return value


class OnboardingSettings(_Section):
    """Invitations for clients without an account (``!einladen``) and their join page."""

    # How long an invitation (its registration token, its page) stays valid.
    invite_days: int = Field(default=7, ge=1, le=60)
    # The homeserver address clients type into Element; default: homeserver.url.
    homeserver_url: str | None = None
    # The join page: served by Lotse on this address (put the organisation's reverse proxy in
    # front of it) and reached by clients at page_url. Port 0: any free port (tests).
    page: bool = True
    page_bind: str = "127.0.0.1"
    page_port: int = Field(default=8091, ge=0, le=65535)
    page_url: str | None = None

    @field_validator("homeserver_url", "page_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL (expected e.g. https://lotse.example.org)")
        if value.startswith("http://") and not _is_loopback(urlsplit(value).hostname or ""):
            # The page shows a registration token: it must not cross the network in clear text.
            raise ValueError(f"{value!r} is not encrypted: use https:// (plain http:// only on this machine)")
        return value


def _mail_address(value: str) -> str:
    value = value.strip()
    local, at, domain = value.rpartition("@")
    # No spaces, line breaks, separators or brackets: one plain address, nothing to inject.
    if not at or not local or "." not in domain or any(c in value for c in " \t\r\n,;<>\"'"):
        raise ValueError(f"{value!r} is not an e-mail address (expected e.g. leitung@example.org)")
    return value


MailAddress = Annotated[str, AfterValidator(_mail_address)]


class ReportMailSettings(_Section):
    """The leadership report by e-mail, through the organisation's SMTP server."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str
    # Default: 587 for starttls, 465 for tls, 25 for none.
    port: int | None = Field(default=None, ge=1, le=65535)
    # starttls: plain connection upgraded before login; tls: encrypted from the start; none:
    # only to a mail server on this machine (the report and the password would cross the
    # network in clear text).
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_file: Path | None = None
    # A certificate authority of the organisation's own, if the server's certificate is not
    # signed by one the system trusts.
    ca_file: Path | None = None
    sender: MailAddress = Field(alias="from")
    to: list[MailAddress] = Field(min_length=1)
    # Default: the report's language ([stats] language, else default_language).
    language: str | None = None
    timeout_seconds: float = Field(default=30, gt=0)
    # A failed delivery is tried again after this, then after twice as long, … (at most 6 h).
    retry_minutes: float = Field(default=5, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ReportMailSettings:
        if self.security == "none" and not _is_loopback(self.host):
            raise ValueError(
                f"security = 'none' sends the report unencrypted: only for a mail server on this "
                f"machine (127.0.0.1, localhost), not {self.host!r}; use starttls or tls"
            )
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together (or neither, without login)")
        if self.password_file is not None:
            _read_secret_file(self.password_file)  # readable now, not only on Monday morning
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file {self.ca_file} does not exist")
        if self.language is not None:
            from bot.i18n import available_languages

            if self.language not in available_languages():
                raise ValueError(f"language {self.language!r} has no message catalog")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]

    def password(self) -> str | None:
        """Read when sending, so a changed password file needs no restart."""
        secret = _read_secret_file(self.password_file)
        return None if secret is None else secret.get_secret_value()


class HealthSettings(_Section):
    """The health and metrics endpoint (``/health``, ``/metrics``) for monitoring."""

    # Served on its own listener, on this machine only by default: the figures carry no
    # personal data, but nobody outside needs them. Port 0: any free port (tests).
    enabled: bool = True
    bind: str = "127.0.0.1"
    port: int = Field(default=8092, ge=0, le=65535)
    # /health says the sync loop is stuck when no sync has completed for this long.
    sync_stale_seconds: float = Field(default=180, gt=0)


class StoreSettings(_Section):
    """Where Lotse keeps its store: ``lotse.db`` in the data directory (SQLite, the default), or
    a PostgreSQL database (``url``) for organisations that run and back up PostgreSQL anyway."""

    # postgresql://USER@HOST:PORT/DATABASE (add ?sslmode=verify-full for a server on another
    # machine). Empty: SQLite in data_dir.
    url: str | None = None
    # The database password, read from this file (or in the URL, or PGPASSWORD / ~/.pgpass).
    password_file: Path | None = None
    # Connections for reads beside the one writer.
    pool_size: int = Field(default=4, ge=1, le=32)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from bot.store.db import redact_url

        value = value.strip()
        shown = redact_url(value)
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"{shown!r} is not a PostgreSQL URL (expected postgresql://lotse@db.example.org/lotse;"
                " leave url out for SQLite in data_dir)"
            )
        query = dict(q.split("=", 1) for q in parts.query.split("&") if "=" in q)
        host = parts.hostname or query.get("host", "")
        if not parts.path.strip("/") and "dbname" not in query:
            raise ValueError(f"{shown!r} names no database (postgresql://USER@HOST/DATABASE)")
        if not (parts.username or "user" in query):
            raise ValueError(f"{shown!r} names no user (postgresql://USER@HOST/DATABASE)")
        local = not host or host.startswith("/") or _is_loopback(host)
        if not local and query.get("sslmode") not in ("require", "verify-ca", "verify-full"):
            # Consent records and pseudonyms would cross the network in clear text.
            raise ValueError(
                f"{shown!r} is not encrypted: add ?sslmode=verify-full (or require) for a database "
                "server on another machine"
            )
        return value

    @model_validator(mode="after")
    def _password(self) -> StoreSettings:
        if self.password_file is not None:
            if self.url is None:
                raise ValueError("password_file without url: the SQLite store needs no password")
            _read_secret_file(self.password_file)  # readable now, not only at the next start
        return self

    def password_value(self) -> str | None:
        """The password from password_file, read when connecting; None: from the URL or libpq's
        usual places (PGPASSWORD, ~/.pgpass)."""
        secret = _read_secret_file(self.password_file)
        return None if secret is None else secret.get_secret_value()

    def describe(self, data_dir: Path) -> str:
        if self.url is None:
            return f"SQLite {data_dir / 'lotse.db'}"
        from bot.store.db import redact_url

        return f"PostgreSQL {redact_url(self.url)}"


class BackupSettings(_Section):
    """``lotse backup``: what ``lotse doctor`` expects of it."""

    # lotse doctor warns when the last backup (lotse backup) is older than this.
    max_age_hours: float = Field(default=26, gt=0)


def default_policies_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / "policies", here.parent / "policies"):
        if candidate.is_dir():
            return candidate
    return Path("policies")


class OfficeSettings(_Section):
    """When no one is in: holidays, and whom a client can reach in an emergency."""

    # Days the whole organisation is closed (public holidays, team days), as YYYY-MM-DD.
    holidays: list[dt.date] = Field(default_factory=list)
    # Told to a client who writes when no one is in (crisis lines, emergency numbers).
    emergency_contacts: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "de": [
                "Notruf: 112",
                "TelefonSeelsorge: 0800 111 0 111 (kostenlos, rund um die Uhr)",
            ],
            "en": [
                "Emergency: 112",
                "TelefonSeelsorge crisis line: 0800 111 0 111 (free, 24/7, German)",
            ],
        }
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOTSE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    homeserver: HomeserverSettings
    bot: BotSettings
    # LOTSE_CONFIG names the config file; declared so that a .env may set it too.
    config: Path | None = None
    data_dir: Path = Path("data")
    default_language: str = "de"
    # The languages offered to clients (the first message's menu, sprache, einladen), in the
    # usual order (German 1, English 2); the default language always. Default: every catalog
    # shipped. Leave out a machine translation the organisation has not had checked, if it
    # prefers not to offer it yet (lotse texts --missing shows which).
    languages: list[str] | None = None
    rooms: RoomSettings = Field(default_factory=RoomSettings)
    roles: RoleSettings = Field(default_factory=RoleSettings)
    organisation: OrganisationSettings = Field(default_factory=OrganisationSettings)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    stats: StatsSettings = Field(default_factory=StatsSettings)
    # The leadership report by e-mail too (absent: Matrix only).
    report_mail: ReportMailSettings | None = None
    onboarding: OnboardingSettings = Field(default_factory=OnboardingSettings)
    office: OfficeSettings = Field(default_factory=OfficeSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    # Lotse's own store: SQLite in data_dir, or PostgreSQL ([store] url).
    store: StoreSettings = Field(default_factory=StoreSettings)
    # Consent notices, workers' rules and retention policies (see policies/README.md).
    policies_dir: Path = Field(default_factory=default_policies_dir)
    pseudonym_key_file: Path | None = None
    # Events per room in one sync; larger gaps are back-filled. Rarely worth changing.
    sync_timeline_limit: int = Field(default=50, ge=1, le=1000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # How long the bot waits for the key of a message it cannot decrypt before it asks the
    # person (in a chat with the bot) to send it again. Rarely worth changing.
    undecryptable_patience_seconds: float = Field(default=600, gt=0)
    # nio logs whole sync bodies (message text) at DEBUG; only ever enable for a lab setup.
    log_nio_debug: bool = False

    @field_validator("default_language")
    @classmethod
    def _lang(cls, value: str) -> str:
        from bot.i18n import available_languages

        langs = available_languages()
        if value not in langs:
            raise ValueError(f"{value!r} has no message catalog (available: {', '.join(langs)})")
        return value

    @field_validator("languages")
    @classmethod
    def _offered(cls, value: list[str] | None) -> list[str] | None:
        from bot.i18n import available_languages

        langs = available_languages()
        if value is not None and (unknown := [v for v in value if v not in langs]):
            raise ValueError(
                f"{', '.join(map(repr, unknown))}: no message catalog (available: {', '.join(langs)})"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    @property
    def server_name(self) -> str:
        return self.bot.uid.split(":", 1)[1]


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one plain line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_SECRET_KEYS = {"password", "access_token"}


def _source(error: Any, config: Path, env_values: dict[str, str]) -> str:
    """Where a wrong value came from: an environment variable (or the .env file) or the config
    file. Only the first levels of a key name a variable (``LOTSE_ROLES__WORKERS``)."""
    parts = [str(p) for p in error["loc"]]
    for n in range(len(parts), 0, -1):
        name = "LOTSE_" + "__".join(parts[:n]).upper()
        if name in os.environ:
            return f" [from the environment variable {name}]"
        if name in env_values:
            return f" [from {name} in the .env file]"
    return f" [in {config}]" if config.is_file() else ""


def _describe(error: Any, config: Path | None = None, env_values: dict[str, str] | None = None) -> str:
    loc = ".".join(str(part) for part in error["loc"]) or "(top level)"
    env = "LOTSE_" + "__".join(str(p) for p in error["loc"]).upper()
    kind = error["type"]
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "missing":
        return f"{loc}: missing (set it in the config file or as {env})"
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling; see deploy/lotse.example.toml)"
    shown = ""
    last = str(error["loc"][-1]) if error["loc"] else ""
    if kind not in ("value_error", "assertion_error") and last not in _SECRET_KEYS:
        shown = f" (got {error.get('input')!r})"
    where = _source(error, config, env_values or {}) if config is not None else ""
    return f"{loc}: {msg}{shown}{where}"


def _dotenv_keys(env_file: Path | None) -> dict[str, str]:
    if env_file is None or not env_file.is_file():
        return {}
    keys = {}
    for line in env_file.read_text(encoding="utf-8", errors="replace").splitlines():
        name, sep, _ = line.strip().partition("=")
        if sep and name.upper().startswith("LOTSE_"):
            keys[name.strip().upper()] = "set"
    return keys


def load_settings(
    config_file: Path | None = None,
    env_file: Path | None = Path(".env"),
    **overrides: Any,
) -> Settings:
    """Load and validate settings; raise :class:`ConfigError` with readable lines on failure."""
    explicit = config_file is not None or CONFIG_ENV in os.environ
    path = config_file or Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)
    if explicit and not path.is_file():
        raise ConfigError([f"config file {path} does not exist"])
    if not explicit and not path.is_file() and DEMO_CONFIG_FILE.is_file():
        print(f"(no {path} here: using the demo's {DEMO_CONFIG_FILE})", file=sys.stderr)
        path = DEMO_CONFIG_FILE

    class _FromFiles(Settings):
        model_config = SettingsConfigDict(
            toml_file=path if path.is_file() else None,
            env_file=env_file if env_file is not None and env_file.is_file() else None,
        )

    try:
        return _FromFiles(**overrides)
    except ValidationError as exc:
        env_values = _dotenv_keys(env_file)
        raise ConfigError([_describe(e, path, env_values) for e in exc.errors()]) from None
    except (ValueError, OSError) as exc:  # e.g. TOML syntax errors name line and column
        raise ConfigError([f"{path}: {exc}"]) from None
