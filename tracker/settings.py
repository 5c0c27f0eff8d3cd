"""Configuration, read once from the environment into a frozen dataclass.

Nothing reads the environment at import time: ``Settings.from_environ()`` is called by the
CLI and passed down. Secrets are wrapped in ``Secret`` so that they never print.
"""

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tracker.errors import ConfigError

__all__ = ["IPNetwork", "Secret", "Settings"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Secret:
    """A string that does not show itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: Secret | None
    production: bool
    base_url: str
    signing_keys: Secret | None
    signing_keys_file: Path | None
    kek: Secret | None
    kek_file: Path | None
    blind_index_key: Secret | None
    blind_index_key_file: Path | None
    trusted_proxies: tuple[IPNetwork, ...] = ()
    k_threshold: int = 5
    consent_cache_size: int = 200_000
    link_cache_size: int = 100_000
    writer_max_batch: int = 2_000
    consent_min_seconds: float = 2.0
    limit_concurrency: int = 4_000
    request_head_seconds: float = 10.0
    gc_young_threshold: int = 700  # Python's own; see tracker.app.tune_garbage_collector
    webhook_delivery: str = "inline"  # "inline": serve delivers; "off": `webhook deliver` does
    webhook_hold_seconds: float = 30.0
    webhook_timeout_seconds: float = 10.0
    webhook_backoff_seconds: float = 5.0
    webhook_give_up_seconds: float = 86_400.0
    # Machine classification (tracker.classify): see README, "Classification".
    too_fast_seconds: float = 5.0
    burst_subjects: int = 5
    burst_seconds: float = 5.0
    multi_link_links: int = 2
    multi_link_seconds: float = 1.0
    honeypot_seconds: float = 60.0
    classifier_memory: int = 100_000

    @property
    def embedded(self) -> bool:
        """True when no DATABASE_URL is given and the embedded PostgreSQL is used."""
        return self.database_url is None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        mode = env.get("TRACKER_ENV", "development")
        if mode not in ("development", "production"):
            raise ConfigError(f"TRACKER_ENV must be 'development' or 'production', not {mode!r}")
        return cls(
            data_dir=Path(env.get("TRACKER_DATA_DIR", ".tracker-data")).resolve(),
            database_url=_secret(env, "DATABASE_URL") or _secret_file(env, "DATABASE_URL_FILE"),
            production=mode == "production",
            base_url=_base_url(env.get("TRACKER_BASE_URL", "http://127.0.0.1:8000")),
            signing_keys=_secret(env, "TRACKER_SIGNING_KEYS"),
            signing_keys_file=_path(env, "TRACKER_SIGNING_KEYS_FILE"),
            kek=_secret(env, "TRACKER_KEK"),
            kek_file=_path(env, "TRACKER_KEK_FILE"),
            blind_index_key=_secret(env, "TRACKER_BLIND_INDEX_KEY"),
            blind_index_key_file=_path(env, "TRACKER_BLIND_INDEX_KEY_FILE"),
            trusted_proxies=_networks(env, "TRACKER_TRUSTED_PROXIES"),
            k_threshold=_int(env, "TRACKER_K", 5, minimum=2),
            consent_cache_size=_int(env, "TRACKER_CONSENT_CACHE_SIZE", 200_000, minimum=1),
            link_cache_size=_int(env, "TRACKER_LINK_CACHE_SIZE", 100_000, minimum=1),
            writer_max_batch=_int(env, "TRACKER_WRITER_MAX_BATCH", 2_000, minimum=1),
            consent_min_seconds=_float(env, "TRACKER_CONSENT_MIN_SECONDS", 2.0),
            limit_concurrency=_int(env, "TRACKER_LIMIT_CONCURRENCY", 4_000, minimum=1),
            request_head_seconds=_float(env, "TRACKER_REQUEST_HEAD_SECONDS", 10.0),
            gc_young_threshold=_int(env, "TRACKER_GC_YOUNG_THRESHOLD", 700, minimum=100),
            webhook_delivery=_choice(env, "TRACKER_WEBHOOK_DELIVERY", ("inline", "off")),
            webhook_hold_seconds=_float(env, "TRACKER_WEBHOOK_HOLD_SECONDS", 30.0),
            webhook_timeout_seconds=_float(env, "TRACKER_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_backoff_seconds=_float(env, "TRACKER_WEBHOOK_BACKOFF_SECONDS", 5.0),
            webhook_give_up_seconds=_float(
                env, "TRACKER_WEBHOOK_GIVE_UP_SECONDS", 86_400.0, maximum=30 * 86_400.0
            ),
            too_fast_seconds=_float(env, "TRACKER_TOO_FAST_SECONDS", 5.0),
            burst_subjects=_int(env, "TRACKER_BURST_SUBJECTS", 5, minimum=2),
            burst_seconds=_float(env, "TRACKER_BURST_SECONDS", 5.0),
            multi_link_links=_int(env, "TRACKER_MULTI_LINK_LINKS", 2, minimum=2),
            multi_link_seconds=_float(env, "TRACKER_MULTI_LINK_SECONDS", 1.0),
            honeypot_seconds=_float(env, "TRACKER_HONEYPOT_SECONDS", 60.0),
            classifier_memory=_int(env, "TRACKER_CLASSIFIER_MEMORY", 100_000, minimum=100),
        )


def _secret(env: Mapping[str, str], name: str) -> Secret | None:
    value = env.get(name, "").strip()
    return Secret(value) if value else None


def _secret_file(env: Mapping[str, str], name: str) -> Secret | None:
    """A secret kept in a file (Docker and Kubernetes secrets, systemd credentials)."""
    path = _path(env, name)
    if path is None:
        return None
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path} ({exc.strerror})") from None
    if not value:
        raise ConfigError(f"{name}: {path} is empty")
    return Secret(value)


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    return Path(value) if value else None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or choices[0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, maximum: float = 3600.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 <= value <= maximum:
        raise ConfigError(f"{name} must be between 0 and {maximum:g} seconds, not {value}")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    networks = []
    for item in env.get(name, "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name} has {item!r}, which is not an IP address or network"
            ) from None
    return tuple(networks)


def _base_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"TRACKER_BASE_URL must start with http:// or https://, not {value!r}")
    return value
