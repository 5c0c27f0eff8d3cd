"""The real `tracker` command line, run as a subprocess against a migrated test database."""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tracker.cli import build_parser
from tracker.ids import format_id, parse_id

PROJECT = Path(__file__).resolve().parent.parent
LINK_A = "https://example.org/offer?id=1"
LINK_B = "https://example.org/pricing#plans"
RECIPIENT = "ada@example.org"
SPLIT = {"human", "proxy", "machine", "all"}
FIGURES = {"total", "unique_estimate", "unique_consenting"}


def tracker(*args: str, env: Mapping[str, str | None]) -> subprocess.CompletedProcess[str]:
    """Run the command line; a variable given as None is removed from the environment."""
    merged: dict[str, str | None] = {**os.environ, **env}
    full = {name: value for name, value in merged.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        env=full,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tracker_json(*args: str, env: Mapping[str, str | None]) -> Any:
    result = tracker(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tracker: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


def new_campaign(env: Mapping[str, str | None]) -> tuple[str, str]:
    account = tracker_json("account", "create", "Example Newsletter GmbH", env=env)["account"]
    campaign = tracker_json(
        "campaign", "create", "--account", account, "--name", "November",
        "--link", LINK_A, "--link", LINK_B, env=env,
    )["campaign"]  # fmt: skip
    return account, campaign


def test_account_and_campaign_create_print_ids_tokens_and_link_numbers(
    test_env: dict[str, str],
) -> None:
    created = tracker_json("account", "create", "Example Newsletter GmbH", env=test_env)
    account = created["account"]
    campaign = tracker_json(
        "campaign", "create", "--account", account, "--name", "November",
        "--link", LINK_A, "--link", LINK_B, env=test_env,
    )  # fmt: skip

    assert set(created) == {"account", "tokens"}
    assert account.startswith("acc_")
    parse_id("acc", account)
    assert set(created["tokens"]) == {"mailer", "dpo"}
    assert created["tokens"]["mailer"].startswith("trk_mailer_")
    assert created["tokens"]["dpo"].startswith("trk_dpo_")
    assert set(campaign) == {"campaign", "links"}
    assert campaign["campaign"].startswith("cmp_")
    parse_id("cmp", campaign["campaign"])
    assert campaign["links"] == {LINK_A: 1, LINK_B: 2}


def test_mint_names_the_recipient_only_while_consent_is_granted(
    test_env: dict[str, str],
) -> None:
    account, campaign = new_campaign(test_env)
    mint = ("mint", "--campaign", campaign, "--recipient", RECIPIENT)
    who = ("--account", account, "--recipient", RECIPIENT)

    before = tracker_json(*mint, env=test_env)
    tracker_json("consent", "grant", *who, "--note", "asked on the phone", env=test_env)
    granted = tracker_json("consent", "show", *who, env=test_env)
    named = tracker_json(*mint, env=test_env)
    tracker_json("consent", "withdraw", *who, env=test_env)
    withdrawn = tracker_json("consent", "show", *who, env=test_env)
    after = tracker_json(*mint, env=test_env)

    assert set(before) == {"pixel", "links", "consent", "named"}
    assert before["named"] is False
    assert before["pixel"].startswith("http://tracker.test/o/")
    assert before["pixel"].endswith(".gif")
    assert set(before["links"]) == {LINK_A, LINK_B}
    assert all(url.startswith("http://tracker.test/c/") for url in before["links"].values())
    assert before["consent"].startswith("http://tracker.test/consent/")
    assert RECIPIENT not in json.dumps(before)
    assert granted["state"] == "granted"
    assert granted["expires_at"] is not None
    assert named["named"] is True
    assert withdrawn["state"] == "withdrawn"
    assert after["named"] is False


def test_consent_show_for_an_unknown_recipient_is_none(test_env: dict[str, str]) -> None:
    account = tracker_json("account", "create", "Example", env=test_env)["account"]

    shown = tracker_json(
        "consent", "show", "--account", account, "--recipient", RECIPIENT, env=test_env
    )

    assert shown == {"state": "none", "text_version": None, "granted_at": None, "expires_at": None}


def test_report_json_has_the_documented_shape(test_env: dict[str, str]) -> None:
    _, campaign = new_campaign(test_env)
    tracker_json("mint", "--campaign", campaign, "--recipient", RECIPIENT, env=test_env)

    report = tracker_json("report", "--campaign", campaign, env=test_env)
    text = tracker("report", "--campaign", campaign, env=test_env)

    assert {"campaign", "audience", "k", "opens", "links"} <= set(report)
    assert report["campaign"] == campaign
    assert report["audience"] == 1
    assert report["k"] == 5
    assert report["breakdown_suppressed"] is True
    assert set(report["opens"]) == FIGURES
    assert all(set(split) == SPLIT for split in report["opens"].values())
    assert [(link["link"], link["url"]) for link in report["links"]] == [(1, LINK_A), (2, LINK_B)]
    for link in report["links"]:
        assert set(link["clicks"]) == FIGURES
        assert all(set(split) == SPLIT for split in link["clicks"].values())
    assert text.returncode == 0, text.stderr
    assert f"Campaign {campaign}" in text.stdout
    assert "< 5" in text.stdout


def test_dpo_access_lists_the_recipients_consent_history_and_events(
    test_env: dict[str, str],
) -> None:
    account, _ = new_campaign(test_env)
    who = ("--account", account, "--recipient", RECIPIENT)
    tracker_json("consent", "grant", *who, "--note", "signed up at the fair", env=test_env)

    access = tracker_json("dpo", "access", *who, env=test_env)

    assert {"recipient", "consent", "events"} <= set(access)
    assert access["recipient"] == RECIPIENT
    assert isinstance(access["events"], list)
    assert [row["action"] for row in access["consent"]] == ["granted"]
    assert access["consent"][0]["method"] == "operator"
    assert access["consent"][0]["evidence"]["note"] == "signed up at the fair"


def test_keys_rotate_appends_a_second_key_to_the_keys_file(
    test_env: dict[str, str], tmp_path: Path
) -> None:
    keys_file = tmp_path / "signing-keys"
    keys_file.write_text("k" * 43 + "\n")
    env: dict[str, str | None] = {
        **test_env,
        "TRACKER_SIGNING_KEYS_FILE": str(keys_file),
        "TRACKER_SIGNING_KEYS": None,
    }

    result = tracker("keys", "rotate", "--json", env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"keys_file": str(keys_file), "keys": 2}
    keys = keys_file.read_text().split()
    assert len(keys) == 2
    assert keys[0] == "k" * 43


def test_keys_rotate_refuses_keys_given_in_the_environment(test_env: dict[str, str]) -> None:
    result = tracker("keys", "rotate", env=test_env)

    assert_one_line_error(result, "TRACKER_SIGNING_KEYS_FILE")


MISTAKES: dict[str, tuple[list[str], dict[str, str | None], tuple[str, ...]]] = {
    "unknown-campaign": (
        ["report", "--campaign", format_id("cmp", 12345)],
        {},
        (f"there is no campaign {format_id('cmp', 12345)}",),
    ),
    "malformed-id": (
        ["mint", "--campaign", "campaign-7", "--recipient", RECIPIENT],
        {},
        ("'campaign-7' is not a cmp_ id",),
    ),
    "bad-link-target": (
        ["campaign", "create", "--account", format_id("acc", 1), "--name", "N", "--link", "ftp:x"],
        {},
        ("must start with http:// or https://",),
    ),
    "unreachable-database": (
        ["report", "--campaign", format_id("cmp", 12345)],
        {"DATABASE_URL": "postgresql://u@127.0.0.1:1/x"},
        ("cannot reach PostgreSQL at 127.0.0.1:1/x",),
    ),
    "production-without-kek": (
        ["account", "create", "Example"],
        {"TRACKER_ENV": "production", "TRACKER_KEK": None},
        ("TRACKER_KEK is not set",),
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_exits_non_zero_with_one_tracker_line_and_no_traceback(
    test_env: dict[str, str], mistake: str
) -> None:
    args, overrides, fragments = MISTAKES[mistake]

    result = tracker(*args, env={**test_env, **overrides})

    assert_one_line_error(result, *fragments)


def test_a_bad_email_address_exits_non_zero_with_one_tracker_line(
    test_env: dict[str, str],
) -> None:
    account, campaign = new_campaign(test_env)

    minting = tracker("mint", "--campaign", campaign, "--recipient", "ada at example", env=test_env)
    granting = tracker(
        "consent", "grant", "--account", account, "--recipient", "<ada@example.org>", env=test_env
    )

    assert_one_line_error(minting, "is not an e-mail address")
    assert_one_line_error(granting, "is not an e-mail address")


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> list[str]:
    paths = [" ".join(prefix)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += _command_paths(sub, (*prefix, name))
    return paths


COMMAND_PATHS = _command_paths(build_parser(), ())


def test_every_command_is_covered_by_the_help_test() -> None:
    expected = {"", "account create", "campaign create", "mint", "consent grant", "report",
                "dpo access", "keys rotate", "consent text set", "serve", "migrate"}  # fmt: skip
    assert expected <= set(COMMAND_PATHS)


@pytest.mark.parametrize("command", COMMAND_PATHS, ids=lambda c: c or "tracker")
def test_help_of_every_command_exits_0_and_shows_an_example(command: str) -> None:
    result = tracker(*command.split(), "--help", env={})

    assert result.returncode == 0, result.stderr
    assert "example" in result.stdout
    assert result.stderr == ""


def test_serve_on_a_database_without_the_schema_says_to_migrate_first(
    empty_dsn: str, test_env: dict[str, str]
) -> None:
    result = tracker("serve", "--port", "0", env={**test_env, "DATABASE_URL": empty_dsn})
    assert_one_line_error(result, "migration(s)", "0001_core.sql", "tracker migrate")
