"""`tracker classify` and `tracker ranges update`, run as the real command line, and the
reading of request lines."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tracker.classify import REASONS, RequestFacts
from tracker.errors import InvalidInput
from tracker.requestlines import facts_from_line

PROJECT = Path(__file__).resolve().parent.parent
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0.0.0 Safari/537.36"
)


def tracker(*args: str, data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKER_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)  # no database is needed, and none must be touched
    result = subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        input=stdin.encode("utf-8", "surrogateescape"),  # lets a test send bytes that are not UTF-8
        env=env,
        cwd=PROJECT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def line(ua: str | None, ip: str = "198.51.100.7", **fields: Any) -> str:
    request: dict[str, Any] = {
        "ua": ua,
        "ip": ip,
        "method": "GET",
        "kind": "open",
        "seconds_since_send": None,
        "headers": {},
    }
    return json.dumps({**request, **fields})


def verdicts(stdout: str) -> list[tuple[str, list[str]]]:
    result = []
    for text in stdout.splitlines():
        out = json.loads(text)
        assert set(out) == {"verdict", "reasons"}
        assert out["verdict"] in ("human", "proxy", "machine")
        assert set(out["reasons"]) <= set(REASONS)
        result.append((out["verdict"], out["reasons"]))
    return result


def test_classify_writes_one_verdict_line_per_request_in_order(tmp_path: Path) -> None:
    requests = [
        line(CHROME),
        line("curl/8.5.0", kind="click", seconds_since_send=30.0),
        line("Mozilla/5.0", "104.28.28.1"),
        line(GMAIL_PROXY),
        line(CHROME, method="HEAD"),
        "",
        line(None, "2001:db8::1", headers={"Sec-Purpose": "prefetch"}),
        line(CHROME, "40.107.1.1", kind="click", seconds_since_send=2.0),
    ]

    result = tracker("classify", data_dir=tmp_path, stdin="\n".join(requests) + "\n")

    assert result.returncode == 0, result.stderr
    assert verdicts(result.stdout) == [
        ("human", []),
        ("machine", ["http_library"]),
        ("proxy", ["apple_mpp"]),
        ("proxy", ["image_proxy"]),
        ("machine", ["head_request"]),
        ("machine", ["prefetch_header", "no_user_agent"]),
        ("machine", ["security_scanner", "too_fast"]),
    ]
    assert tracker("classify", "--json", data_dir=tmp_path, stdin=requests[0]).stdout == (
        '{"verdict": "human", "reasons": []}\n'
    )


def test_lines_with_campaign_recipient_and_at_see_the_lines_before_them(tmp_path: Path) -> None:
    def clicked(recipient: str, at: float, ip: str = "198.51.100.7", link: int = 1) -> str:
        return line(
            CHROME,
            ip,
            kind="click",
            seconds_since_send=600.0,
            campaign="cmp_1",
            recipient=recipient,
            at=at,
            link=link,
        )

    burst = [clicked(f"r{n}@example.org", 100 + n * 0.1, f"198.51.100.{n}") for n in range(6)]
    alone = [line(CHROME, kind="click", seconds_since_send=600.0) for _ in range(6)]
    links = [clicked("ada@example.org", 200.0, link=1), clicked("ada@example.org", 200.3, link=2)]

    result = tracker("classify", data_dir=tmp_path, stdin="\n".join(burst + alone + links))

    assert result.returncode == 0, result.stderr
    found = [v for v, _ in verdicts(result.stdout)]
    assert found == ["human"] * 4 + ["machine"] * 2 + ["human"] * 6 + ["human", "machine"]
    assert verdicts(result.stdout)[-1] == ("machine", ["multi_link"])


def test_a_malformed_line_stops_with_its_number_after_the_verdicts_before_it(
    tmp_path: Path,
) -> None:
    for bad, fragment in [
        ("{not json", "line 2: not JSON"),
        ('["a list"]', "line 2: expected a JSON object"),
        (line(CHROME, kind="view"), 'line 2: "kind" must be "open" or "click", got "view"'),
        (line(CHROME, ip="999.1.1.1"), 'line 2: "ip" must be an IPv4 or IPv6 address'),
        (line(CHROME, headers={"a": 1}), 'line 2: "headers" must be an object of strings'),
        (line(CHROME).replace("Chrome", "Chr\udcffme"), "line 2: not UTF-8 text"),
    ]:
        result = tracker("classify", data_dir=tmp_path, stdin=f"{line(CHROME)}\n{bad}\n")

        assert result.returncode == 1
        assert verdicts(result.stdout) == [("human", [])]
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith(f"tracker: {fragment}")
        assert "Traceback" not in result.stderr


def test_ranges_update_replaces_a_set_and_classify_uses_it(tmp_path: Path) -> None:
    downloaded = tmp_path / "cloud.txt"
    downloaded.write_text("# a provider's list\n192.0.2.0/24\n2001:db8:c::/48\n")

    result = tracker(
        "ranges", "update", "--source", "datacenter", "--file", str(downloaded), "--json",
        data_dir=tmp_path / "data",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "source": "datacenter",
        "file": str(tmp_path / "data" / "ranges" / "datacenter.txt"),
        "networks": 2,
        "ipv4": 1,
        "ipv6": 1,
    }
    classified = tracker("classify", data_dir=tmp_path / "data", stdin=line(CHROME, "192.0.2.9"))
    assert verdicts(classified.stdout) == [("machine", ["datacenter_ip"])]


def test_ranges_update_refuses_a_bad_file_in_one_line_and_keeps_the_old_set(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("172.224.224.0/27,GB,GB-EN,London,\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("172.224.224.0/27,GB,GB-EN,London,\n172.224.224.300/31,GB,GB-EN,London,\n")
    args = ("ranges", "update", "--source", "apple", "--file")
    assert tracker(*args, str(good), data_dir=tmp_path).returncode == 0
    before = (tmp_path / "ranges" / "apple-private-relay.txt").read_text()

    result = tracker(*args, str(bad), data_dir=tmp_path)

    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "bad.csv, line 2: '172.224.224.300/31' is not a network" in result.stderr
    assert (tmp_path / "ranges" / "apple-private-relay.txt").read_text() == before


def test_a_request_line_becomes_the_facts_it_describes() -> None:
    facts = facts_from_line(
        line(
            CHROME,
            "2001:db8::1",
            method="head",
            kind="click",
            seconds_since_send=12,
            headers={"X-Moz": "prefetch"},
            campaign="cmp_1",
            recipient="ada@example.org",
            at=1700000000.5,
            link=3,
            honeypot=True,
        ),
        1,
    )

    assert facts == RequestFacts(
        ua=CHROME,
        ip="2001:db8::1",
        method="HEAD",
        kind="click",
        seconds_since_send=12.0,
        headers={"x-moz": "prefetch"},
        campaign="cmp_1",
        subject="ada@example.org",
        link=3,
        at=1700000000.5,
        honeypot=True,
    )


def test_without_all_three_of_campaign_recipient_and_at_a_line_stands_alone() -> None:
    facts = facts_from_line(line(CHROME, campaign="cmp_1", recipient="ada@example.org"), 4)

    assert (facts.campaign, facts.subject, facts.at) == (None, None, None)


def test_numbers_and_flags_are_not_taken_from_other_types() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"seconds_since_send": True}, '"seconds_since_send" must be a number or null, got true'),
        ({"seconds_since_send": "3"}, '"seconds_since_send" must be a number or null, got "3"'),
        ({"honeypot": 1}, '"honeypot" must be true or false, got 1'),
        ({"method": "GE T"}, '"method" must be "GET" or "HEAD", got "GE T"'),
        ({"campaign": 1, "recipient": None, "at": 1, "link": 2.5}, '"link" must be a string'),
    ]
    for fields, fragment in cases:
        with pytest.raises(InvalidInput, match=re.escape(f"line 9: {fragment}")):
            facts_from_line(line(CHROME, **fields), 9)
    with pytest.raises(InvalidInput, match=re.escape('"ua" must be a string or null, got a')):
        facts_from_line(json.dumps({"ua": ["x"], "ip": "192.0.2.1", "kind": "open"}), 9)
