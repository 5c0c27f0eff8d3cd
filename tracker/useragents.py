"""What a User-Agent header says about who is asking.

The order of the checks is the point: mailbox providers' image proxies, mail security
scanners that name themselves, and mail clients are recognised before any bot list is
consulted, because the generic lists flag Gmail's and Yahoo's proxies and some mail clients
as bots. Then come Apple Mail Privacy Protection's bare ``Mozilla/5.0``, HTTP libraries,
the crawler list of ``tracker/data/useragents/crawler-user-agents.txt``, and the shapes of
user agents that programs send.

Most of that list is plain words; they are searched as one regular expression shaped as
their prefix tree, so a new user agent costs a few branches per character, not 1,500
searches, and every other rule is tried only when one of its hint words is present.
Answers are cached per user agent (the same few hundred agents make most requests).
"""

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

__all__ = ["CRAWLER_PATTERNS", "AgentKind", "UserAgents"]

CRAWLER_PATTERNS = Path(__file__).resolve().parent / "data/useragents/crawler-user-agents.txt"

AgentKind = Literal[
    "none",  # no User-Agent at all
    "bare",  # exactly "Mozilla/5.0": Apple Mail Privacy Protection's fetches look like this
    "mail_client",
    "image_proxy",
    "security_scanner",
    "http_library",
    "crawler",
    "other",  # browsers, apps, and anything not recognised
]


class _Rule:
    """A regular expression, tried only when one of its hint words is in the user agent.

    The hints are lower-case words, separated by "|", one of which every match contains;
    checking them first is what keeps a user agent that matches nothing (most) cheap.
    """

    def __init__(self, pattern: str, hints: str, flags: int = 0) -> None:
        self.regex = re.compile(pattern, flags)
        self.hints = tuple(hints.split("|"))

    def matches(self, ua: str, lower: str) -> bool:
        return any(hint in lower for hint in self.hints) and self.regex.search(ua) is not None


# Mailbox providers fetching images for a person who opened the mail (ua-parser/uap-core
# families GmailImageProxy and YahooMailProxy; isbot lists Rambler's, Seznam's and
# ukr.net's mail proxies under these names).
_IMAGE_PROXY = _Rule(
    r"GoogleImageProxy|via ggpht\.com|YahooMailProxy|RamblerMail.*ImageProxy"
    r"|SeznamEmailProxy|mail\.ukr\.net proxy",
    "imageproxy|ggpht|mailproxy|emailproxy|ukr.net",
    re.IGNORECASE,
)
# Mail security gateways that name themselves (e.g. "Barracuda Sentinel (EE)"); Microsoft's
# Safe Links mostly sends a browser's user agent and is found by its address instead.
_SECURITY_SCANNER = _Rule(
    r"Barracuda Sentinel|Mimecast|Proofpoint|urldefense|SafeLinks|Safe Links|IronPort"
    r"|Forcepoint|MessageLabs|Trend ?Micro|SpamExperts",
    "barracuda|mimecast|proofpoint|urldefense|safe|ironport|forcepoint|messagelabs|"
    "trend|spamexperts",
    re.IGNORECASE,
)
# Mail clients, which must never be taken for bots (names as they appear in uap-core's and
# isbot's labelled user agents). Apple Mail sends WebKit's user agent without the Safari
# and Version words that the browser adds.
_MAIL_CLIENT = _Rule(
    r"Thunderbird/|Microsoft Outlook|Microsoft Office/|MSOffice \d|ms-office|Outlook-Express/"
    r"|Outlook-(?:iOS|Android)|MacOutlook/|Postbox/|Lotus-Notes/|Airmail \d|^Superhuman\b"
    r"|eM Client|^emclient/|Mailbird|^Evolution/|kmail2?/|^Barca(?:Pro)?/|YahooMobileMail/"
    r"|The Bat!|Mailspring|Windows Live Mail|Spark Desktop"
    r"|^Mozilla/5\.0 \((?:Macintosh|iPhone|iPad|iPod)[^)]*\) AppleWebKit/[\d.]+"
    r" \(KHTML, like Gecko\)(?: Mobile/\w+)?$",
    "thunderbird|outlook|office|postbox|notes|airmail|superhuman|em client|emclient|"
    "mailbird|evolution|kmail|barca|mobilemail|the bat|mailspring|live mail|spark|"
    "like gecko)",
)
# HTTP client libraries and command-line tools, which put their name first.
_HTTP_LIBRARY = re.compile(
    r"^(?:curl|wget|python-requests|python-urllib|python-httpx|python/|aiohttp|go-http-client"
    r"|go \d|go-resty|java/|okhttp|libwww-perl|lwp|node-fetch|node/|axios|undici|got \("
    r"|guzzlehttp|ruby|httpie|powershell|apache-httpclient|jakarta commons-httpclient|php"
    r"|pycurl|libcurl|reqwest|dart:io|scalaj-http|unirest|jersey|akka-http|reactornetty"
    r"|vert\.x|http\.rb|http-kit|grpc-|faraday|rest-client|restsharp|postmanruntime|winhttp"
    r"|http_request|urlgrabber|aws-sdk|boto|lua-resty-http)",
    re.IGNORECASE,
)
# What the crawler list misses: programs that say what they are or give a web address or
# mail address to contact, and shapes no browser sends (a lone product token; "Mozilla/5.0
# (compatible; Name/1.0)"; words added inside WebKit's "(KHTML, like Gecko)").
_GENERIC_ROBOT = _Rule(
    r"(?<!cu)bots?(?:\b|_|\d)|crawl|spider|scraper|headlesschrome|phantomjs|puppeteer"
    r"|playwright|selenium|lighthouse|https?://|@[a-z][\w-]*\.|\(compatible; ?\)|monitoring"
    r"|health.?check|link ?preview|uri ?preview|url-preview|link ?resolver|link ?expander"
    r"|validator|checker|analy[sz]er|scanner|fetcher|parser|like gecko; ",
    "bot|crawl|spider|scraper|headless|phantom|puppeteer|playwright|selenium|"
    "lighthouse|http|@|(compatible;|monitoring|health|preview|resolver|expander|"
    "validator|checker|analy|scanner|fetcher|parser|like gecko; ",
    re.IGNORECASE,
)
_LONE_PRODUCT = re.compile(
    r"^[\w.-]+(?:/[\w.-]+)?$"
    r"|^Mozilla/\d\.\d (?:[\w.-]+/[\w.-]+|\((?:compatible; ?)?[\w.-]+/[\w.-]+\))$"
)


class _PatternList:
    """The crawler list: its plain words as one trie-shaped regex per reason code, and the
    few real regular expressions each behind the longest text it requires."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        words: dict[str, list[str]] = {}
        self.regexes: list[tuple[str, re.Pattern[str], str]] = []
        for reason, pattern in entries:
            word = _plain_word(pattern)
            if word is not None and not word[0].isdigit():
                words.setdefault(reason, []).append(word)
            elif word is not None:  # "008/" is a crawler, not the end of "4.39008/"
                self.regexes.append((word, re.compile(rf"(?<![\d.]){pattern}"), reason))
            else:
                self.regexes.append((_required_text(pattern), re.compile(pattern), reason))
        self.tries = [(re.compile(_trie_pattern(w)), reason) for reason, w in sorted(words.items())]

    def match(self, ua: str) -> str | None:
        for trie, reason in self.tries:
            if trie.search(ua):
                return reason
        for required, regex, reason in self.regexes:
            if required in ua and regex.search(ua):
                return reason
        return None


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching any of the words, shaped as their prefix tree; the
    regex engine then tries a handful of branches at each position instead of every word."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def branch(node: dict[str, Any]) -> str:
        alternatives = [
            re.escape(char) + branch(child) for char, child in sorted(node.items()) if char
        ]
        if not alternatives:
            return ""
        joined = alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"
        return f"(?:{joined})?" if "" in node else joined

    return branch(trie)


def _plain_word(pattern: str) -> str | None:
    """The literal text a pattern matches, or None if it uses regular-expression syntax."""
    word = []
    escaped = False
    for char in pattern:
        if escaped:
            if char.isalnum():  # \d, \s, \b and friends are syntax
                return None
            word.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ".^$*+?{}[]|()":
            return None
        else:
            word.append(char)
    return None if escaped else "".join(word)


def _required_text(pattern: str) -> str:
    """The longest plain text outside groups and classes that every match must contain;
    "" (which every string contains) when the pattern has a top-level alternative."""
    runs = [""]
    run = ""
    depth = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "\\":
            following = pattern[i : i + 1]
            i += 1
            if depth == 0 and following and not following.isalnum():
                run += following
                continue
        elif char == "|" and depth == 0:
            return ""
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char in "[{":
            i = pattern.find("]" if char == "[" else "}", i + 1) + 1 or len(pattern)
            run = run if char == "[" else run[:-1]  # x{0,2} may have no x
        elif char in "?*":
            run = run[:-1]  # the quantified character may be absent
        elif char not in ".^$+" and depth == 0:
            run += char
            continue
        runs.append(run)
        run = ""
    runs.append(run)
    return max(runs, key=len)


def read_crawler_patterns(path: Path = CRAWLER_PATTERNS) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            reason, pattern = line.split("\t", 1)
            entries.append((reason, pattern))
    return entries


@lru_cache(maxsize=1)
def _shipped_patterns() -> _PatternList:
    return _PatternList(read_crawler_patterns())


class UserAgents:
    """Tells a user agent's kind; ``kind_of`` is cached per user agent."""

    def __init__(self, crawlers: Iterable[tuple[str, str]] | None = None, cache_size: int = 8192):
        self.crawlers = _shipped_patterns() if crawlers is None else _PatternList(crawlers)
        self.kind_of: Callable[[str | None], AgentKind] = lru_cache(maxsize=cache_size)(
            self._kind_of
        )

    def _kind_of(self, header: str | None) -> AgentKind:
        ua = (header or "").strip()
        if not ua:
            return "none"
        lower = ua.lower()
        if _IMAGE_PROXY.matches(ua, lower):
            return "image_proxy"
        if _SECURITY_SCANNER.matches(ua, lower):
            return "security_scanner"
        if _MAIL_CLIENT.matches(ua, lower):
            return "mail_client"
        if ua == "Mozilla/5.0":
            return "bare"
        if _HTTP_LIBRARY.match(ua):
            return "http_library"
        listed = self.crawlers.match(ua)
        if listed == "http_library":
            return "http_library"
        if listed or _GENERIC_ROBOT.matches(ua, lower) or _LONE_PRODUCT.match(ua):
            return "crawler"
        return "other"
