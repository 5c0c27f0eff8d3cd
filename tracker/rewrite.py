"""Rewriting a mail's HTML: tracked links, the pixel, a honeypot link, a consent footer.

Nothing is parsed and written back: the rewriter finds the exact spans of ``href`` values
of ``<a>`` tags (outside comments, Outlook's conditional comments, ``<script>``, ``<style>``
and ``<title>``) and splices replacements in, so every other byte of the mail stays as it
was: entities, odd markup, attribute order, casing, line endings.
"""

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_SKIP", "RewriteResult", "rewrite_html"]

DEFAULT_SKIP = re.compile(
    r"unsubscribe|abmelden|abbestellen|opt-?out|list-unsubscribe", re.IGNORECASE
)

# Regions whose content is never touched, and tags; matched left to right in one pass.
_TOKENS = re.compile(
    r"<!--.*?(?:-->|\Z)"  # comments, including <!--[if mso]> ... <![endif]-->
    r"|<(script|style|title)\b[^>]*>.*?(?:</\1\s*>|\Z)"  # raw text elements
    r"|<a\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>"  # an <a ...> start tag
    r"|</a\s*>",
    re.IGNORECASE | re.DOTALL,
)
_HREF = re.compile(r"(\shref\s*=\s*)(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=<>`]+))", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")

_FOOTERS = {
    "en": "Would you like to help us see what interests you? You decide whether opens and "
    "clicks of your e-mails are evaluated for you personally: "
    '<a href="{url}" style="color:#555555">your tracking consent</a>.',
    "de": "Ob Öffnungen und Klicks Ihrer E-Mails für Sie persönlich ausgewertet werden, "
    'entscheiden Sie: <a href="{url}" style="color:#555555">Ihre Einwilligung</a>.',
}


@dataclass(frozen=True)
class RewriteResult:
    html: str
    links: list[str]  # tracked targets, in document order, each once


def rewrite_html(
    html_text: str,
    *,
    track: Callable[[str], str | None],
    pixel_url: str,
    honeypot_url: str,
    consent_url: str,
    lang: str,
    skip: re.Pattern[str] | None = None,
) -> RewriteResult:
    skip = skip or DEFAULT_SKIP
    pieces: list[str] = []
    targets: dict[str, None] = {}
    position = 0
    open_link: tuple[int, str, int, int, str] | None = None  # piece index, target, ...
    for match in _TOKENS.finditer(html_text):
        token = match.group(0)
        if token[:2] == "</":
            if open_link is not None:
                _finish(
                    pieces, open_link, html_text[open_link[3] : match.start()], skip, track, targets
                )
                open_link = None
            continue
        if not token.lower().startswith("<a"):
            continue
        if open_link is not None:  # an unclosed <a>: judge it without its text
            _finish(pieces, open_link, "", skip, track, targets)
            open_link = None
        href = _HREF.search(token)
        if href is None:
            continue
        value_group = next(g for g in (2, 3, 4) if href.group(g) is not None)
        start = match.start() + href.start(value_group)
        end = match.start() + href.end(value_group)
        pieces.append(html_text[position:start])
        pieces.append(html_text[start:end])
        quote = {2: '"', 3: "'", 4: ""}[value_group]
        open_link = (
            len(pieces) - 1,
            html.unescape(href.group(value_group)).strip(),
            0,
            match.end(),
            quote,
        )
        position = end
    if open_link is not None:
        _finish(pieces, open_link, html_text[open_link[3] :], skip, track, targets)
    pieces.append(html_text[position:])
    rewritten = "".join(pieces)
    block = _inserted_block(pixel_url, honeypot_url, consent_url, lang)
    ends = list(_BODY_END.finditer(rewritten))
    if ends:
        at = ends[-1].start()
        rewritten = rewritten[:at] + block + rewritten[at:]
    else:
        rewritten += block
    return RewriteResult(rewritten, list(targets))


def _finish(
    pieces: list[str],
    link: tuple[int, str, int, int, str],
    text: str,
    skip: re.Pattern[str],
    track: Callable[[str], str | None],
    targets: dict[str, None],
) -> None:
    index, target, _, _, quote = link
    if not target.lower().startswith(("http://", "https://")):
        return
    if skip.search(target) or skip.search(html.unescape(_TAGS.sub(" ", text))):
        return
    tracked = track(target)
    targets[target] = None
    if tracked is None:
        return
    escaped = _attribute(tracked)
    pieces[index] = f'"{escaped}"' if quote == "" and _needs_quotes(escaped) else escaped
    if quote == "'":
        pieces[index] = escaped.replace("'", "&#39;")


def _attribute(value: str) -> str:
    return html.escape(value, quote=True)


def _needs_quotes(value: str) -> bool:
    return any(c in value for c in " \t\n\"'=<>`")


def _inserted_block(pixel_url: str, honeypot_url: str, consent_url: str, lang: str) -> str:
    footer = _FOOTERS["de" if lang == "de" else "en"].format(url=_attribute(consent_url))
    return (
        f'<img src="{_attribute(pixel_url)}" width="1" height="1" alt=""'
        ' style="display:block;border:0;width:1px;height:1px" />'
        f'<a href="{_attribute(honeypot_url)}" tabindex="-1" aria-hidden="true"'
        ' style="display:none!important;mso-hide:all;font-size:0;line-height:0;'
        'max-height:0;overflow:hidden"></a>'
        '<div style="font-family:Arial,sans-serif;font-size:11px;line-height:1.4;'
        f'color:#777777;padding:12px 0">{footer}</div>'
    )
