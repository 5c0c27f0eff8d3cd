"""`tracker rewrite`: one mail through stdin and stdout, byte for byte, and a batch."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

MAIL = Path(__file__).parent / "data" / "mail" / "newsletter.html"
TRACKED = re.compile(rb"http://tracker\.test/c/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def tracker(
    *args: str, env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        input=stdin,
        env={**os.environ, **env},
        capture_output=True,
        check=False,
        timeout=60,
    )


def _campaign(env: dict[str, str]) -> str:
    account = json.loads(tracker("account", "create", "Café GmbH", "--json", env=env).stdout)
    created = tracker(
        "campaign", "create", "--account", account["account"], "--name", "Nov", "--json", env=env
    )
    return str(json.loads(created.stdout)["campaign"])


REWRITTEN = [  # the links that must be tracked, in document order, as written
    b"https://example.org/menu?utm_source=newsletter&amp;utm_medium=email#starters",
    b"https://example.org/book",
    b"https://example.org/privacy",
]


def _undo(rewritten: bytes) -> bytes:
    """Take the inserted block out and put the original href values back."""
    start = rewritten.index(b'<img src="http://tracker.test/o/')
    end = rewritten.index(b"</div>", start) + len(b"</div>")
    originals = iter(REWRITTEN)
    return TRACKED.sub(lambda _: next(originals), rewritten[:start] + rewritten[end:])


@pytest.mark.slow
def test_rewrite_changes_only_the_links_and_adds_pixel_honeypot_and_footer(
    test_env: dict[str, str],
) -> None:
    campaign = _campaign(test_env)
    original = MAIL.read_bytes() + "\r\n<!-- Latin-1 byte: \xe9 -->".encode("latin-1")
    result = tracker(
        "rewrite",
        "--campaign",
        campaign,
        "--recipient",
        "ada@example.org",
        "--lang",
        "de",
        env=test_env,
        stdin=original,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert b"Ihre Einwilligung" in out and b"\r\n" in out
    assert out.count(b"/o/") == 1 and b'aria-hidden="true"' in out
    assert b'href="https://example.org/book"' in out  # inside <!--[if mso]>, untouched
    assert b"https://example.org/u?id=42" in out  # the unsubscribe link stays as it was
    assert b"mailto:hello@example.org" in out and b'href="#top"' in out
    assert b"https://example.org/in-style" in out  # inside <style>, untouched
    assert len(TRACKED.findall(out)) == 4  # menu, book, privacy, and the honeypot
    assert _undo(out) == original


@pytest.mark.slow
def test_rewrite_batch_writes_one_file_per_recipient_with_progress(
    test_env: dict[str, str], tmp_path: Path
) -> None:
    campaign = _campaign(test_env)
    people = tmp_path / "people.csv"
    people.write_text("email,name\nada@example.org,Ada\nbob@example.org,Bob\n")
    out_dir = tmp_path / "out"
    result = tracker(
        "rewrite",
        "--campaign",
        campaign,
        "--recipients",
        str(people),
        "--out-dir",
        str(out_dir),
        "--input",
        str(MAIL),
        "--json",
        env=test_env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"written": 2, "named": 0, "out_dir": str(out_dir)}
    assert b"2/2" in result.stderr
    files = sorted(out_dir.iterdir())
    assert [f.name for f in files] == ["00001-ada@example.org.html", "00002-bob@example.org.html"]
    assert files[0].read_bytes() != files[1].read_bytes()  # each has its own nonce
    missing = tracker("rewrite", "--campaign", campaign, "--recipients", str(people), env=test_env)
    assert missing.returncode == 1
    assert missing.stderr.decode().strip() == (
        "tracker: --recipients needs --out-dir DIR for the rewritten files"
    )
