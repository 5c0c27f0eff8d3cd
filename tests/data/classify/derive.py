"""Derive the classifier's shipped data and the evaluation subsets from the public data sets.

Run by hand when a source is refreshed (it needs PyYAML, which the project does not):

    python3 tests/data/classify/derive.py /path/to/shared/data

It writes, from the folders named in SOURCES below:

- ``tracker/data/ranges/apple-private-relay.txt``: Apple's iCloud Private Relay egress ranges;
- ``tracker/data/useragents/crawler-user-agents.txt``: the crawler patterns, one a line, each
  with the reason code it stands for (``http_library`` for the entries tagged
  ``http-library``, ``crawler`` for the rest);
- ``tests/data/classify/useragents.jsonl``: labelled user agents for the evaluation suite, one
  ``[label, source, user agent]`` a line; the labels are ``human``, ``mail_client`` (a human
  reading mail), ``proxy`` and ``machine``;
- ``tests/data/classify/private-relay-addresses.json``: addresses inside Private Relay ranges
  and addresses just outside them;
- a copy of each source's licence next to what was derived from it.

Labels are taken from the sources themselves, never from the classifier: see README.md.
"""

import hashlib
import ipaddress
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,import-not-found,unused-ignore]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TRACKER_DATA = ROOT / "tracker" / "data"

SOURCES = {
    "icloud-private-relay": ("hroost/icloud-private-relay-iplist", "16f49afc", "2026-08-17", "MIT"),
    "crawler-user-agents": ("monperrus/crawler-user-agents", "7c7f9f25", "2026-07-02", "MIT"),
    "isbot": ("omrilotan/isbot", "344052da", "2026-07-20", "Unlicense"),
    "uap-core": ("ua-parser/uap-core", "e3c5e634", "2026-08-11", "Apache-2.0"),
}

# uap-core names a family for each test user agent; these families are the labelled subset.
UAP_MAIL_CLIENTS = {
    "Airmail",
    "Apple Mail",
    "Barca",
    "Evolution",
    "Lotus Notes",
    "MacOutlook",
    "Outlook",
    "Outlook-iOS",
    "Outlook-iOS-Android",
    "Postbox",
    "Superhuman",
    "The Bat!",
    "Thunderbird",
    "Windows Live Mail",
    "YahooMobileMail",
    "kmail2",
}
UAP_BROWSERS = {
    "Aloha Browser",
    "Amazon Silk",
    "Avast Secure Browser",
    "Brave",
    "Chrome",
    "Chrome Mobile",
    "Chrome Mobile WebView",
    "Chrome Mobile iOS",
    "Chromium",
    "Coc Coc",
    "Dolphin",
    "DuckDuckGo Mobile",
    "Edge",
    "Edge Mobile",
    "Facebook",
    "Firefox",
    "Firefox Beta",
    "Firefox Mobile",
    "Firefox iOS",
    "IE",
    "IE Mobile",
    "Instagram",
    "Konqueror",
    "Maxthon",
    "Midori",
    "Mobile Safari",
    "Mobile Safari UI/WKWebView",
    "Opera",
    "Opera GX",
    "Opera Mini",
    "Opera Mobile",
    "Opera Touch",
    "Pale Moon",
    "Puffin",
    "QQ Browser",
    "QQ Browser Mobile",
    "Safari",
    "Samsung Internet",
    "UC Browser",
    "Vivaldi",
    "Waterfox",
    "Whale",
    "Yandex Browser",
}
UAP_MAIL_PROXIES = {"GmailImageProxy", "YahooMailProxy"}
# Families that are plainly programs: HTTP libraries, headless browsers, scanners.
UAP_PROGRAMS = {
    "Apache-HttpClient",
    "GuzzleHttp",
    "Go-http-client",
    "HTTPie",
    "HTTrack",
    "HeadlessChrome",
    "Java",
    "OpenVAS Scanner",
    "PhantomJS",
    "PostmanRuntime",
    "PycURL",
    "Python Requests",
    "Python aiohttp",
    "Python-urllib",
    "Scrapy",
    "WhatWeb",
    "Wget",
    "axios",
    "curl",
    "libwww-perl",
    "masscan",
    "okhttp",
    "wget2",
}
UAP_ROBOT_NAME = re.compile(r"bot|spider|crawl|slurp", re.IGNORECASE)
MAIL_PROXY_NAME = re.compile(r"mail.*proxy|GoogleImageProxy|YahooMailProxy", re.IGNORECASE)
# Mail clients that a bot list files under bots: a mail client fetching a pixel is a person
# reading, so these are labelled human (eM Client is a desktop mail program, emclient.com).
MAIL_CLIENT_IN_BOT_LISTS = re.compile(r"^emclient/", re.IGNORECASE)
ISBOT_MAIL_CLIENTS = {
    "Microsoft Outlook",
    "Outlook",
    "Outlook Express",
    "Outlook Mail",
    "Postbox",
    "Thunderbird",
}
INSTANCES_PER_PATTERN = 1


def main(shared: Path) -> None:
    write_relay_ranges(shared / "icloud-private-relay")
    write_crawler_patterns(shared / "crawler-user-agents")
    write_useragents(shared)
    write_relay_addresses(shared / "icloud-private-relay")
    for folder in SOURCES:
        shutil.copyfile(shared / folder / "LICENSE", HERE / f"LICENSE-{folder}")


def header(folder: str, what: str) -> str:
    repo, commit, date, licence = SOURCES[folder]
    return (
        f"# {what}\n"
        f"# Derived from github.com/{repo} @{commit} ({date}), licence {licence}:\n"
        f"# see LICENSE-{folder} in this folder. Regenerate with tests/data/classify/derive.py.\n"
    )


def relay_networks(folder: Path) -> list[str]:
    lines = []
    for name in ("ipv4-ranges.txt", "ipv6-ranges.txt"):
        lines += [line.strip() for line in (folder / name).read_text().splitlines()]
    return [str(ipaddress.ip_network(line)) for line in lines if line]


def write_relay_ranges(folder: Path) -> None:
    target = TRACKER_DATA / "ranges" / "apple-private-relay.txt"
    what = (
        "iCloud Private Relay egress ranges, through which Apple Mail Privacy Protection "
        "fetches images.\n# Apple publishes them as egress-ip-ranges.csv; this is a mirror "
        "of it with neighbouring\n# ranges merged, one network a line"
    )
    body = "\n".join(relay_networks(folder))
    target.write_text(header("icloud-private-relay", what) + body + "\n")
    shutil.copyfile(folder / "LICENSE", target.parent / "LICENSE-icloud-private-relay")


def write_crawler_patterns(folder: Path) -> None:
    entries = json.loads((folder / "crawler-user-agents.json").read_text())
    target = TRACKER_DATA / "useragents" / "crawler-user-agents.txt"
    what = (
        "Crawler user-agent patterns (Python regular expressions, case-sensitive), one a "
        "line:\n# the reason code, a tab, the pattern"
    )
    lines = []
    for entry in entries:
        reason = "http_library" if "http-library" in entry.get("tags", []) else "crawler"
        lines.append(f"{reason}\t{entry['pattern']}")
    target.write_text(header("crawler-user-agents", what) + "\n".join(lines) + "\n")
    shutil.copyfile(folder / "LICENSE", target.parent / "LICENSE-crawler-user-agents")


def write_useragents(shared: Path) -> None:
    cases: dict[str, tuple[str, str]] = {}
    conflicts: set[str] = set()

    def add(ua: Any, label: str, source: str) -> None:
        if not isinstance(ua, str) or not ua.strip():
            return
        known = cases.get(ua)
        if known is not None and known[0] != label:
            conflicts.add(ua)
        cases.setdefault(ua, (label, source))

    isbot = shared / "isbot"
    for group, agents in yaml.safe_load((isbot / "browsers.yml").read_text()).items():
        if not group.startswith("ZZZ"):  # isbot's own "glitches" and "insignificant bots"
            for ua in agents:
                label = "mail_client" if group in ISBOT_MAIL_CLIENTS else "human"
                add(ua, label, "isbot/browsers.yml")
    for group, agents in yaml.safe_load((isbot / "crawlers.yml").read_text()).items():
        for ua in agents:
            add(ua, bot_list_label(ua, group), "isbot/crawlers.yml")

    for case in yaml.safe_load((shared / "uap-core" / "test_ua.yaml").read_text())["test_cases"]:
        uap = uap_label(case["family"])
        if uap:
            add(case["user_agent_string"], uap, "uap-core/test_ua.yaml")

    crawlers = json.loads((shared / "crawler-user-agents" / "crawler-user-agents.json").read_text())
    for entry in crawlers:
        for ua in entry.get("instances", [])[:INSTANCES_PER_PATTERN]:
            add(ua, bot_list_label(ua, entry["pattern"]), "crawler-user-agents.json")

    lines = [
        json.dumps([label, source, ua], ensure_ascii=False)
        for ua, (label, source) in cases.items()
        if ua not in conflicts
    ]
    (HERE / "useragents.jsonl").write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} user agents, {len(conflicts)} dropped for conflicting labels")


def bot_list_label(ua: str, name: str) -> str:
    if MAIL_PROXY_NAME.search(name) or MAIL_PROXY_NAME.search(ua):
        return "proxy"
    return "mail_client" if MAIL_CLIENT_IN_BOT_LISTS.search(ua) else "machine"


def uap_label(family: str) -> str | None:
    if family in UAP_MAIL_CLIENTS:
        return "mail_client"
    if family in UAP_BROWSERS:
        return "human"
    if family in UAP_MAIL_PROXIES:
        return "proxy"
    if family in UAP_PROGRAMS or UAP_ROBOT_NAME.search(family):
        return "machine"
    return None


def write_relay_addresses(folder: Path) -> None:
    networks = [ipaddress.ip_network(n) for n in relay_networks(folder)]
    by_version: dict[int, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {
        4: [n for n in networks if n.version == 4],
        6: [n for n in networks if n.version == 6],
    }
    address_class = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}
    inside: list[str] = []
    outside: list[str] = []
    for version, nets in by_version.items():
        step = max(1, len(nets) // 200)
        for net in nets[::step]:
            digest = int.from_bytes(hashlib.sha256(str(net).encode()).digest()[:8], "big")
            inside.append(str(net[digest % net.num_addresses]))
            for neighbour in (int(net.network_address) - 1, int(net.broadcast_address) + 1):
                address = address_class[version](neighbour)
                if not any(address in other for other in by_version[version]):
                    outside.append(str(address))
    data = {"inside": inside, "outside": outside}
    (HERE / "private-relay-addresses.json").write_text(json.dumps(data, indent=0) + "\n")
    print(f"{len(inside)} addresses inside Private Relay ranges, {len(outside)} just outside")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
