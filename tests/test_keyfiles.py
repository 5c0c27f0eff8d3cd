"""Where secrets come from: generated once for development, required in production."""

import base64
import stat
from pathlib import Path

import pytest

from tracker.errors import ConfigError
from tracker.keyfiles import (
    BLIND_INDEX_FILENAME,
    KEK_FILENAME,
    SIGNING_KEYS_FILENAME,
    load_secrets,
    read_signing_keys,
    rotate_signing_key,
)
from tracker.settings import Secret, Settings

SIGNING_KEY = "signing-key-0123456789abcdefghijklmnopqrstuv"
KEK = base64.b64encode(b"k" * 32).decode()
BLIND_INDEX_KEY = base64.b64encode(b"b" * 32).decode()
SECRET_FILES = (SIGNING_KEYS_FILENAME, KEK_FILENAME, BLIND_INDEX_FILENAME)
SECRET_VARIABLES = ("TRACKER_SIGNING_KEYS", "TRACKER_KEK", "TRACKER_BLIND_INDEX_KEY")


def _all_secrets(data_dir: Path) -> dict[str, str]:
    return {
        "TRACKER_DATA_DIR": str(data_dir),
        "TRACKER_SIGNING_KEYS": SIGNING_KEY,
        "TRACKER_KEK": KEK,
        "TRACKER_BLIND_INDEX_KEY": BLIND_INDEX_KEY,
    }


def test_development_without_database_url_generates_private_secret_files_once(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    settings = Settings.from_environ({"TRACKER_DATA_DIR": str(data_dir)})

    first = load_secrets(settings)
    contents = {name: (data_dir / name).read_text() for name in SECRET_FILES}
    second = load_secrets(Settings.from_environ({"TRACKER_DATA_DIR": str(data_dir)}))

    for name in SECRET_FILES:
        mode = stat.S_IMODE((data_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {mode:o}"
        assert (data_dir / name).read_text() == contents[name]
    assert len(first.signing_keys) == 1
    assert len(first.kek) == 32
    assert len(first.blind_index_key) == 32
    assert first.kek != first.blind_index_key
    assert second.signing_keys == first.signing_keys
    assert second.kek == first.kek
    assert second.blind_index_key == first.blind_index_key
    assert first.signing_keys_file == data_dir / SIGNING_KEYS_FILENAME


def test_secrets_given_in_the_environment_are_used_and_no_file_is_written(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"

    loaded = load_secrets(Settings.from_environ(_all_secrets(data_dir)))

    assert loaded.signing_keys == (SIGNING_KEY.encode(),)
    assert loaded.signing_keys_file is None
    assert loaded.kek == b"k" * 32
    assert loaded.blind_index_key == b"b" * 32
    assert not data_dir.exists()


def test_secrets_given_as_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text(f"{SIGNING_KEY}\n{SIGNING_KEY.upper()}\n")
    (tmp_path / "kek").write_text(KEK + "\n")
    (tmp_path / "index").write_text(BLIND_INDEX_KEY)
    settings = Settings.from_environ(
        {
            "TRACKER_ENV": "production",
            "DATABASE_URL": "postgresql://tracker@db.example/tracker",
            "TRACKER_DATA_DIR": str(tmp_path / "data"),
            "TRACKER_SIGNING_KEYS_FILE": str(tmp_path / "keys"),
            "TRACKER_KEK_FILE": str(tmp_path / "kek"),
            "TRACKER_BLIND_INDEX_KEY_FILE": str(tmp_path / "index"),
        }
    )

    loaded = load_secrets(settings)

    assert loaded.signing_keys == (SIGNING_KEY.encode(), SIGNING_KEY.upper().encode())
    assert loaded.signing_keys_file == tmp_path / "keys"
    assert loaded.kek == b"k" * 32
    assert loaded.blind_index_key == b"b" * 32


@pytest.mark.parametrize("missing", SECRET_VARIABLES)
def test_production_without_a_secret_is_refused_naming_the_variable(
    tmp_path: Path, missing: str
) -> None:
    data_dir = tmp_path / "data"
    env = {**_all_secrets(data_dir), "TRACKER_ENV": "production"}
    del env[missing]

    with pytest.raises(ConfigError) as caught:
        load_secrets(Settings.from_environ(env))

    assert missing in str(caught.value)
    assert f"{missing}_FILE" in str(caught.value)
    assert not data_dir.exists()


def test_a_database_url_without_secrets_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings.from_environ(
        {"TRACKER_DATA_DIR": str(data_dir), "DATABASE_URL": "postgresql://u@db.example/x"}
    )

    with pytest.raises(ConfigError, match="TRACKER_SIGNING_KEYS is not set"):
        load_secrets(settings)
    assert not data_dir.exists()


def test_a_secret_file_variable_naming_a_missing_file_is_refused(tmp_path: Path) -> None:
    env = _all_secrets(tmp_path / "data")
    del env["TRACKER_KEK"]
    env["TRACKER_KEK_FILE"] = str(tmp_path / "nowhere")

    with pytest.raises(ConfigError, match=r"TRACKER_KEK_FILE names .*nowhere"):
        load_secrets(Settings.from_environ(env))


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.b64encode(b"k" * 16).decode(),
        base64.b64encode(b"k" * 33).decode(),
        "k" * 32,
    ],
    ids=["not-base64", "16-bytes", "33-bytes", "raw-text"],
)
@pytest.mark.parametrize("variable", ["TRACKER_KEK", "TRACKER_BLIND_INDEX_KEY"])
def test_a_malformed_key_is_refused_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = {**_all_secrets(tmp_path), variable: value}

    with pytest.raises(ConfigError, match=f"{variable} must be base64 of 32 random bytes"):
        load_secrets(Settings.from_environ(env))


def test_a_short_signing_key_is_refused(tmp_path: Path) -> None:
    env = {**_all_secrets(tmp_path), "TRACKER_SIGNING_KEYS": f"{SIGNING_KEY},too-short"}

    with pytest.raises(ConfigError, match="shorter than 32 characters"):
        load_secrets(Settings.from_environ(env))


def test_rotate_appends_a_key_to_the_keys_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    keys_file = tmp_path / "signing-keys"
    keys_file.write_text(SIGNING_KEY + "\n")
    settings = Settings.from_environ(
        {"TRACKER_DATA_DIR": str(tmp_path / "data"), "TRACKER_SIGNING_KEYS_FILE": str(keys_file)}
    )

    assert rotate_signing_key(settings) == keys_file
    keys = read_signing_keys(keys_file)
    rotate_signing_key(settings)

    assert len(keys) == 2
    assert keys[0] == SIGNING_KEY.encode()
    assert len(keys[1]) >= 32
    assert read_signing_keys(keys_file)[:2] == keys
    assert len(read_signing_keys(keys_file)) == 3


def test_rotate_refuses_when_keys_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_environ(_all_secrets(tmp_path / "data"))

    with pytest.raises(ConfigError, match="TRACKER_SIGNING_KEYS_FILE"):
        rotate_signing_key(settings)
    assert not (tmp_path / "data").exists()


def test_secrets_never_show_in_reprs(tmp_path: Path) -> None:
    password = "db-password-s3cr3t"
    env = {
        **_all_secrets(tmp_path),
        "DATABASE_URL": f"postgresql://tracker:{password}@db.example/tracker",
    }
    settings = Settings.from_environ(env)
    secret = Secret(SIGNING_KEY)
    shown = [repr(secret), str(secret), f"{secret}", repr(settings), str(settings)]
    shown.append(repr(load_secrets(settings)))

    for text in shown:
        for value in (SIGNING_KEY, KEK, BLIND_INDEX_KEY, password):
            assert value not in text, text
    assert secret.reveal() == SIGNING_KEY


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRACKER_K", "five"),
        ("TRACKER_K", "1"),
        ("TRACKER_K", "-5"),
        ("TRACKER_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example.org"),
        ("TRACKER_TRUSTED_PROXIES", "300.1.1.1"),
        ("TRACKER_BASE_URL", "tracker.example.org"),
        ("TRACKER_BASE_URL", "ftp://tracker.example.org"),
        ("TRACKER_ENV", "staging"),
    ],
)
def test_a_malformed_setting_is_refused_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_environ({"TRACKER_DATA_DIR": str(tmp_path), variable: value})


def test_well_formed_settings_are_parsed(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {
            "TRACKER_DATA_DIR": str(tmp_path),
            "TRACKER_K": "10",
            "TRACKER_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1 fd00::/8",
            "TRACKER_BASE_URL": "https://t.example.org/",
            "TRACKER_ENV": "production",
        }
    )

    assert settings.k_threshold == 10
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32", "fd00::/8"]
    assert settings.base_url == "https://t.example.org"
    assert settings.production
    assert settings.embedded


def test_the_database_url_can_come_from_a_file(tmp_path: Path) -> None:
    url_file = tmp_path / "database_url"
    url_file.write_text("postgresql://tracker:s3cret@db/tracker\n")
    settings = Settings.from_environ({"DATABASE_URL_FILE": str(url_file)})
    assert settings.database_url is not None
    assert settings.database_url.reveal() == "postgresql://tracker:s3cret@db/tracker"
    with pytest.raises(ConfigError, match="DATABASE_URL_FILE: cannot read"):
        Settings.from_environ({"DATABASE_URL_FILE": str(tmp_path / "missing")})
    url_file.write_text("\n")
    with pytest.raises(ConfigError, match=r"DATABASE_URL_FILE: .* is empty"):
        Settings.from_environ({"DATABASE_URL_FILE": str(url_file)})
