"""The platform's one settings object, shared by the hub config, the launcher and the api.

Every value comes from the environment (prefix ``DATAZENTR_``) or a ``.env`` file in the
working directory; ``DATABASE_URL`` is also accepted without the prefix.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from api import __version__
from api.core.names import API_PREFIX, SETTINGS_ENV_PREFIX
from api.core.secrets import check_secret, load_or_create_secret

# A Unix socket path must fit in sockaddr_un (108 bytes including the name).
_MAX_SOCKET_DIR_LENGTH = 80


class ConfigError(Exception):
    """A setting is missing or unusable; the message says how to fix it."""


# Outside sign-in ------------------------------------------------------------------------

# Names of the built-in outside providers; an operator's OpenID Connect provider takes another.
BUILT_IN_PROVIDERS = ("github", "google")
_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_provider_url(value: str) -> str:
    """An outside provider's address: https, or plain http on this machine (a test server).
    Trailing slashes are dropped."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{value!r} is not an https:// address")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"{value!r} is plain http on another machine: codes and tokens would travel "
            "unencrypted; use its https:// address"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} has a query or fragment; give the bare address")
    return value.strip().rstrip("/")


class OidcProviderSettings(BaseModel):
    """An OpenID Connect provider people may sign in with (Keycloak, Azure AD, Okta, a
    university's SSO): its metadata is read from ``issuer``/.well-known/openid-configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description="Short name in URLs and on linked identities ([a-z0-9-], at most 32); "
        "keep it: identities are stored under it."
    )
    display_name: str = Field(min_length=1, max_length=80, description="The button's label.")
    issuer: str = Field(description="The issuer URL (https).")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scopes: tuple[str, ...] = ("openid", "email", "profile")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _PROVIDER_NAME.match(value):
            raise ValueError(
                f"name {value!r} must be 1-32 characters of a-z, 0-9 and -, starting with a "
                "letter or digit"
            )
        if value in BUILT_IN_PROVIDERS:
            raise ValueError(
                f"name {value!r} is the built-in provider's; configure it with "
                f"DATAZENTR_{value.upper()}_CLIENT_ID instead"
            )
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return check_provider_url(value)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("scopes must include openid")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=SETTINGS_ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default=Path(".data"),
        description="Where the platform keeps its state: embedded Postgres, hub database, "
        "generated secrets, user homes of the local spawner.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATAZENTR_DATABASE_URL", "DATABASE_URL"),
        description="An external PostgreSQL with the `vector` extension, as the role that owns "
        "the platform's tables (migrations run as it). Unset: embedded Postgres.",
    )
    database_app_url: str | None = Field(
        default=None,
        description="How the api and workers connect: a role that owns no table, is no "
        "superuser and has no BYPASSRLS, so PostgreSQL's row-level security applies to it. "
        "Unset: DATABASE_URL's server as the role `database_app_role`, created by the owner "
        "(which then needs CREATEROLE) with a password generated into the data dir.",
    )
    database_app_role: str = Field(
        default="datazentr_app",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="The role the api connects as when DATAZENTR_DATABASE_APP_URL is unset.",
    )
    hub_ip: str = "127.0.0.1"
    hub_port: int = 8000
    hub_api_port: int = Field(default=8081, description="The hub's internal API port.")
    proxy_api_port: int = Field(default=8001, description="configurable-http-proxy's REST API.")
    api_port: int = Field(default=8090, description="Where the api service listens (loopback).")
    server_api_url: str | None = Field(
        default=None,
        description="The api's URL as users' servers reach it. Unset: the api's loopback port "
        "(local servers, Docker on the host network); on Kubernetes e.g. "
        "http://proxy-public/services/api.",
    )
    admin_users: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), description="Comma-separated hub user names that are admins."
    )
    open_signup: bool = Field(
        default=True, description="New local accounts can sign in without admin approval."
    )
    authenticator: Literal["native", "platform"] = Field(
        default="platform",
        description="platform: the api is the identity broker (its own sign-up and sign-in "
        "pages, e-mail verification, magic links, password reset, GitHub/Google/OpenID Connect "
        "sign-in); the hub signs in through its OpenID Connect provider. native: JupyterHub's "
        "NativeAuthenticator pages (the sign-in of earlier versions; its users are carried "
        "over into accounts when the platform starts with its own sign-in).",
    )
    public_url: str | None = Field(
        default=None,
        description="The platform's address as people reach it (links in mails, the OpenID "
        "Connect issuer). Unset: http://HUB_IP:HUB_PORT/.",
    )
    product_name: str = Field(
        default="DATAZENtr", description="The product's name on pages and in mails."
    )
    smtp_host: str | None = Field(
        default=None,
        description="The SMTP server that sends the platform's mail. Unset: mails are written "
        "to the outbox in the data dir (outbox/), where `make up` says to look.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls: plain connection upgraded with STARTTLS (port 587); tls: TLS "
        "from the start (port 465); none: no encryption (a relay on this machine only).",
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if needed.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    mail_from: str = Field(
        default="DATAZENtr <no-reply@localhost>",
        description="The From address of the platform's mail.",
    )
    signup_email_domains: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated e-mail domains that may sign up (e.g. example.edu). "
        "Empty: any address.",
    )
    sso_allow_private_issuers: bool = Field(
        default=False,
        description="Let organisations' single sign-on use issuers over plain http and at "
        "loopback or private-network addresses. For testing and closed networks only: off, "
        "the platform contacts only https issuers at public addresses.",
    )
    academic_email_domains: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated academic domains: a verified address on one of them "
        "makes an account a verified student (for the student plan).",
    )
    github_client_id: str | None = Field(
        default=None,
        description="Sign in with GitHub: the Client ID of a GitHub OAuth app. Unset: no "
        "GitHub button.",
    )
    github_client_secret: SecretStr | None = Field(
        default=None, validate_default=True, description="The GitHub OAuth app's secret."
    )
    github_url: str = Field(
        default="https://github.com",
        description="GitHub's web address (sign-in and token endpoints): a GitHub Enterprise "
        "Server's, or a test server's.",
    )
    github_api_url: str = Field(
        default="https://api.github.com",
        description="GitHub's REST API (the user and their e-mail addresses): "
        "https://HOST/api/v3 on GitHub Enterprise Server, or a test server's.",
    )
    google_client_id: str | None = Field(
        default=None,
        description="Sign in with Google: the client ID of a Google OAuth client (web "
        "application). Unset: no Google button.",
    )
    google_client_secret: SecretStr | None = Field(
        default=None, validate_default=True, description="The Google OAuth client's secret."
    )
    google_issuer: str = Field(
        default="https://accounts.google.com",
        description="Google's OpenID Connect issuer; another only for a test server.",
    )
    oidc_providers: Annotated[list[OidcProviderSettings], NoDecode] = Field(
        default_factory=list,
        description="OpenID Connect providers to sign in with, as JSON: "
        '[{"name": "corp", "display_name": "Corp SSO", "issuer": "https://sso.corp.example", '
        '"client_id": "...", "client_secret": "...", "scopes": ["openid", "email", "profile"]}].',
    )
    spawner: Literal["auto", "local", "docker", "kubernetes"] = Field(
        default="auto",
        description="auto: Docker when an engine answers (DOCKER_HOST or the default "
        "socket), else local processes, which do not isolate users.",
    )
    docker_network: str = Field(
        default="host",
        description="Docker network of user containers. host: servers listen on loopback "
        "ports of this machine; any other name: a bridge network the hub reaches by IP.",
    )
    docker_pause_minutes: int = Field(
        default=15,
        ge=0,
        description="A stopped Docker server stays paused this long, so its user returns "
        "in under a second; 0 removes containers at once.",
    )
    docker_hub_connect_ip: str = Field(
        default="172.17.0.1",
        description="With a bridge network: the address containers use to reach the hub.",
    )
    singleuser_image: str | None = Field(
        default=None,
        description="The image user containers run. Unset: the platform's own image, "
        "built by `make up` when missing.",
    )
    organisation_images: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Docker images an organisation's admins may offer "
        "their members (each must be listed here). Empty: organisations cannot choose "
        "images; members run the platform's image.",
    )
    extra_hub_config: Path | None = Field(
        default=None,
        description="A JupyterHub config file loaded after the platform's own, for local "
        "customisation (like Zero to JupyterHub's extraConfig).",
    )
    quota_check_seconds: int = Field(
        default=60, ge=1, description="How often running servers are checked against plans."
    )
    quota_warn_minutes: int = Field(
        default=10, ge=0, description="Warn a user this many minutes before the budget ends."
    )
    cull_idle_seconds: int = Field(
        default=3600,
        ge=10,
        description="jupyterhub-idle-culler stops servers idle this long (per-plan idle "
        "timeouts below it are enforced inside each server).",
    )
    cull_every_seconds: int = Field(default=300, ge=1)
    embedder: Literal["minilm", "openai"] = Field(
        default="minilm",
        description="Pattern library embeddings. minilm: all-MiniLM-L6-v2 run offline in the "
        "api (ONNX Runtime); openai: an OpenAI-compatible /v1/embeddings endpoint.",
    )
    embeddings_url: str | None = Field(
        default=None,
        description="With embedder=openai: the base URL, e.g. http://127.0.0.1:11434/v1.",
    )
    embeddings_model: str = Field(
        default="text-embedding-3-small",
        description="With embedder=openai: the model name; it must return 384 dimensions.",
    )
    embeddings_api_key: SecretStr | None = Field(
        default=None, description="With embedder=openai: the API key, if the endpoint needs one."
    )
    llm_base_url: str | None = Field(
        default=None,
        description="Project generation's model: an OpenAI-compatible API base URL "
        "(e.g. http://127.0.0.1:11434/v1). Unset: the offline engine.",
    )
    llm_model: str = Field(default="gpt-4o-mini", description="The chat model's name.")
    llm_api_key: SecretStr | None = Field(
        default=None, description="The model API's key; stays in the api and its workers."
    )
    llm_timeout_seconds: float = Field(default=60.0, gt=0, description="Per model request.")
    generation_token_budget: int = Field(
        default=50_000, ge=1, description="Most tokens one generation job may use."
    )
    generation_sandbox: Literal["auto", "docker", "bubblewrap"] = Field(
        default="auto",
        description="Where quality gates run generated code. auto: a Docker container "
        "when an engine answers (DOCKER_HOST or the default socket) and has the sandbox "
        "image, else bubblewrap.",
    )
    generation_sandbox_image: str = Field(
        default="datazentr/base:bookworm",
        description="The image of the gates' Docker sandbox (the worker's Python is "
        "mounted into it read-only).",
    )
    stripe_secret_key: SecretStr | None = Field(
        default=None,
        description="Billing: the Stripe secret key (sk_live_... or sk_test_..., or a "
        "restricted key). Unset: no billing; plans are free or assigned by admins.",
    )
    stripe_publishable_key: str | None = Field(
        default=None, description="Billing: the Stripe publishable key (pk_...), for pages."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Billing: the signing secret (whsec_...) of the webhook endpoint "
        "<public URL>/services/api/billing/webhook.",
    )
    stripe_webhook_secret_previous: SecretStr | None = Field(
        default=None,
        description="Billing: while rolling the webhook's signing secret, the old one; "
        "events signed with either are accepted. Remove it once Stripe has switched.",
    )
    stripe_api_base: str | None = Field(
        default=None,
        description="Billing: the Stripe API's address. Unset: Stripe's own "
        "(https://api.stripe.com); a loopback address only for a Stripe-compatible test server.",
    )
    billing_success_url: str | None = Field(
        default=None,
        description="Where Stripe Checkout returns after a purchase. Unset: the account's "
        "billing page on this platform.",
    )
    billing_cancel_url: str | None = Field(
        default=None,
        description="Where Stripe Checkout returns when the buyer cancels. Unset: the "
        "billing page.",
    )
    billing_currency: str = Field(
        default="usd", pattern=r"^[a-z]{3}$", description="Currency of the plans' prices."
    )
    billing_grace_days: int = Field(
        default=7,
        ge=0,
        le=60,
        description="How long a subscription whose payment failed (past_due) keeps its plan.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs the api's browser cookies. Unset: generated once into the data dir.",
    )
    proxy_command: str | None = Field(
        default=None,
        description="Path to configurable-http-proxy. Unset: node_modules/.bin in the project.",
    )
    dashboards_port: int | None = Field(
        default=None,
        description="Where the dashboards service (Voila) listens (loopback). Unset: a free "
        "port chosen when the hub starts.",
    )
    dashboards_pool_size: int = Field(
        default=2,
        ge=0,
        description="Preheated Voila kernels kept ready per dashboard (0: start one per visit).",
    )
    dashboards_credential_minutes: int = Field(
        default=60,
        ge=1,
        le=24 * 60,
        description="How long the credential a dashboard uses to read its visitor's data lasts.",
    )
    dashboards_hourly_rate: float = Field(
        default=75.0, ge=0, description="Cost of an hour of work, for 'cost saved'."
    )
    dashboards_currency: str = Field(default="USD", description="Currency of the hourly rate.")

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("admin_users", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("signup_email_domains", "academic_email_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | set | frozenset | tuple):
            return frozenset(str(d).strip().lower().lstrip("@") for d in value if str(d).strip())
        return value

    @field_validator("organisation_images", mode="before")
    @classmethod
    def _split_images(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            # A child process gets the list as JSON; people write it comma-separated.
            parts = json.loads(text) if text.startswith("[") else text.split(",")
            return [str(image).strip() for image in parts if str(image).strip()]
        return value

    @field_validator("github_client_secret", "google_client_secret")
    @classmethod
    def _client_pairs(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        provider = (info.field_name or "").removesuffix("_client_secret")
        client_id = info.data.get(f"{provider}_client_id")
        prefix = f"DATAZENTR_{provider.upper()}"
        if client_id and not (value and value.get_secret_value()):
            raise ValueError(f"{prefix}_CLIENT_ID is set: set {prefix}_CLIENT_SECRET too")
        if value and value.get_secret_value() and not client_id:
            raise ValueError(f"{prefix}_CLIENT_SECRET is set: set {prefix}_CLIENT_ID too")
        return value

    @field_validator("github_url", "github_api_url", "google_issuer")
    @classmethod
    def _provider_url(cls, value: str) -> str:
        return check_provider_url(value)

    @field_validator("oidc_providers", mode="before")
    @classmethod
    def _providers_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return []
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"not valid JSON ({exc.msg} at character {exc.pos}); give a list of "
                    'providers like [{"name": "corp", "display_name": "Corp SSO", '
                    '"issuer": "https://...", "client_id": "...", "client_secret": "..."}]'
                ) from None
        if isinstance(value, dict):
            raise ValueError("give a JSON list of providers ([...]), not one object")
        return value

    @field_validator("oidc_providers")
    @classmethod
    def _unique_provider_names(
        cls, value: list[OidcProviderSettings]
    ) -> list[OidcProviderSettings]:
        names = [provider.name for provider in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"provider names must differ; repeated: {', '.join(repeated)}")
        return value

    @field_validator("secret_key")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_secret("DATAZENTR_SECRET_KEY", value.get_secret_value())
        return value

    @field_validator("database_url", "database_app_url")
    @classmethod
    def _empty_means_embedded(cls, value: str | None) -> str | None:
        return value or None

    # Derived locations -------------------------------------------------------------

    @field_validator("stripe_api_base")
    @classmethod
    def _stripe_api_base(cls, value: str | None) -> str | None:
        # The secret key travels to it: https, or a test server on this machine.
        return None if value is None else check_provider_url(value)

    @field_validator("billing_success_url", "billing_cancel_url")
    @classmethod
    def _return_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s):// address")
        return value.strip()

    @property
    def billing_enabled(self) -> bool:
        """Whether people can buy plans and bundles: a Stripe secret key is set."""
        return self.stripe_secret_key is not None

    @property
    def version(self) -> str:
        return __version__

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def postgres_socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred)) <= _MAX_SOCKET_DIR_LENGTH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"datazentr-{digest}"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def instance_id(self) -> str:
        """Names this installation (by its data dir) on shared engines such as Docker."""
        return hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]

    @property
    def hub_url(self) -> str:
        return f"http://{self.hub_ip}:{self.hub_port}/"

    @property
    def public_base_url(self) -> str:
        """The platform's public address, with a trailing slash."""
        return (self.public_url or self.hub_url).rstrip("/") + "/"

    @property
    def api_url_for_servers(self) -> str:
        """Where the platform's extensions in a user's server call the api (no trailing /)."""
        if self.server_api_url:
            return self.server_api_url.rstrip("/")
        return f"http://127.0.0.1:{self.api_port}{API_PREFIX}".rstrip("/")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in the form SQLAlchemy's psycopg 3 dialect expects."""
        if self.database_url is None:
            return (
                f"postgresql+psycopg://postgres@/{EMBEDDED_DATABASE}"
                f"?host={self.postgres_socket_dir}"
            )
        return to_sqlalchemy_url(self.database_url)

    @property
    def app_sqlalchemy_url(self) -> str:
        """The api's own connection: the role row-level security applies to."""
        if self.database_app_url is not None:
            return to_sqlalchemy_url(self.database_app_url)
        return with_role(self.sqlalchemy_url, self.database_app_role, self.app_role_password())

    def app_role_password(self) -> str | None:
        """The generated password of the api's role; none over the embedded server's socket."""
        if self.uses_embedded_postgres or self.database_app_url is not None:
            return None
        return load_or_create_secret(self.secrets_dir / "database_app_password")

    def api_secret_key(self) -> str:
        """The configured secret key, or the one generated into the data dir on first use."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return load_or_create_secret(self.secrets_dir / "secret_key")

    def quota_service_token(self) -> str:
        """The token of the hub-managed quota service, generated into the data dir."""
        return load_or_create_secret(self.secrets_dir / "quota_service_token")

    def dashboards_credential_key(self) -> str:
        """Signs the short-lived credentials the dashboards service gives its kernels."""
        return load_or_create_secret(self.secrets_dir / "dashboards_credential_key")

    def child_environment(self, *, with_secrets: bool = True) -> dict[str, str]:
        """Every set field as the variable it is read from, so a child process resolves the
        same settings. ``with_secrets=False`` leaves out SECRET_FIELDS, for children (and
        what they start, such as users' kernels) that must never see them."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None or (not with_secrets and name in SECRET_FIELDS):
                continue
            env[environment_name(name)] = _as_environment_value(value)
        return env


# Settings that grant access to something (a database password may sit in the URL). A
# child that must not hold them gets ``child_environment(with_secrets=False)``.
SECRET_FIELDS = frozenset(
    {
        "secret_key",
        "llm_api_key",
        "embeddings_api_key",
        "database_url",
        "database_app_url",
        "smtp_password",
        "github_client_secret",
        "google_client_secret",
        "stripe_secret_key",
        "stripe_webhook_secret",
        "stripe_webhook_secret_previous",
        # Each provider's client secret is inside.
        "oidc_providers",
    }
)


def environment_name(field: str) -> str:
    """The environment variable a Settings field is read from (its first alias, if any)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return SETTINGS_ENV_PREFIX + field.upper()


def _as_environment_value(value: object) -> str:
    """The text that Settings parses back into ``value``."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset | set):
        return ",".join(sorted(str(item) for item in value))
    if isinstance(value, list):
        return json.dumps([_revealed(item) for item in value])
    return str(value)


def _revealed(value: object) -> Any:
    """A model (or value) as JSON-ready data with its secrets in clear."""
    if isinstance(value, BaseModel):
        return {name: _revealed(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple | list):
        return [_revealed(item) for item in value]
    return value


EMBEDDED_DATABASE = "datazentr"


def to_sqlalchemy_url(url: str) -> str:
    """Accept the usual ``postgres://``/``postgresql://`` forms and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise ConfigError(
        f"DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host/db), "
        f"got one starting with {url.split(':', 1)[0]!r}."
    )


def with_role(sqlalchemy_url: str, role: str, password: str | None) -> str:
    """The same server and database, as another role."""
    url = make_url(sqlalchemy_url).set(username=role, password=password)
    return url.render_as_string(hide_password=False)


@lru_cache
def get_settings() -> Settings:
    return Settings()
