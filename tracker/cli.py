"""The ``tracker`` command line. Every command takes ``--json``; mistakes get one line."""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from tracker.commands import COMMANDS, Output
from tracker.consent_commands import CONSENT_COMMANDS
from tracker.dpo_commands import DPO_COMMANDS
from tracker.errors import TrackerError
from tracker.ipranges import SOURCES
from tracker.mail_commands import MAIL_COMMANDS
from tracker.settings import Settings
from tracker.webhook_commands import WEBHOOK_COMMANDS

__all__ = ["build_parser", "main"]

EPILOG = """\
examples:
  tracker account create "Example Newsletter GmbH"
  tracker campaign create --account acc_... --name "November" --link https://example.org/
  tracker mint --campaign cmp_... --recipient ada@example.org
  tracker report --campaign cmp_... --json

Without DATABASE_URL every command uses the embedded PostgreSQL in .tracker-data/
(TRACKER_DATA_DIR). See README.md for the environment variables.
"""


CLASSIFY_HELP = """\
Read JSON lines of requests on stdin, write one verdict line per request, in order.

in:  {"ua": str|null, "ip": str, "method": "GET"|"HEAD", "kind": "open"|"click",
      "seconds_since_send": float|null, "headers": {name: value}}
out: {"verdict": "human"|"machine"|"proxy", "reasons": [code, ...]}
e.g. {"ua": "curl/8.5", "ip": "192.0.2.1", "method": "GET", "kind": "click",
      "seconds_since_send": 30, "headers": {}}  ->  {"verdict": "machine", ...}

Lines are judged one by one, unless they carry "campaign", "recipient" and "at" (seconds):
then the burst, multi-link and honeypot rules see the lines before them. Give "link" (its
number or URL) to tell links apart (without it every click counts as another link) and
"honeypot": true for the invisible honeypot link. Blank lines are skipped. A malformed line
stops the run: the verdicts before it are written, the error names the line, and the exit
status is 1. The output is JSON lines with or without --json. No database is needed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser = _Parser(
        prog="tracker",
        description="Consent-gated e-mail tracking server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(
        name: str,
        help: str,
        example: str,
        parent: "argparse._SubParsersAction[_Parser]" = sub,
        key: str | None = None,
    ) -> _Parser:
        cmd: _Parser = parent.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.set_defaults(key=key or name)
        return cmd

    serve = command("serve", "run the HTTP server under uvicorn", "tracker serve --port 8000")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    command("migrate", "apply pending migrations from sql/", "tracker migrate")
    command("demo", "create a demo account and campaign once, print URLs to try", "tracker demo")

    account = command("account", "manage accounts", "tracker account create NAME")
    account_sub = account.add_subparsers(dest="action", required=True, parser_class=_Parser)
    create = command(
        "create",
        "create an account; prints its id and two API tokens",
        'tracker account create "Example GmbH"',
        account_sub,
        "account create",
    )
    create.add_argument("name")
    settings = command(
        "set",
        "change an account's settings (shown on the consent page and in the RoPA)",
        'tracker account set --account acc_... --controller-name "Example GmbH" '
        "--dpo-contact dpo@example.org",
        account_sub,
        "account set",
    )
    settings.add_argument("--account", required=True)
    for flag, text in (
        ("--controller-name", "the controller's name (default: the account name)"),
        ("--controller-address", "the controller's postal address"),
        ("--contact-email", "where recipients reach the controller"),
        ("--dpo-contact", "how to reach the data protection officer"),
        ("--privacy-url", "the controller's privacy notice"),
    ):
        settings.add_argument(flag, help=text)
    for flag, text in (
        ("--consent-validity-days", "how long a grant counts (default 730)"),
        ("--retention-days", "how long per-recipient events are kept (default 180)"),
        ("--proof-days", "how long consent proof is kept after withdrawal (default 1095)"),
    ):
        settings.add_argument(flag, type=int, help=text)

    campaign = command("campaign", "manage campaigns", "tracker campaign create ...")
    campaign_sub = campaign.add_subparsers(dest="action", required=True, parser_class=_Parser)
    create = command(
        "create",
        "create a campaign with its tracked links",
        "tracker campaign create --account acc_... --name November --link https://example.org/",
        campaign_sub,
        "campaign create",
    )
    create.add_argument("--account", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--link", action="append", metavar="URL")

    mint = command(
        "mint",
        "print a recipient's pixel, link and consent URLs for one mail",
        "tracker mint --campaign cmp_... --recipient ada@example.org",
    )
    mint.add_argument("--campaign", required=True)
    mint.add_argument("--recipient", required=True, metavar="EMAIL")
    mint.add_argument(
        "--link",
        action="append",
        metavar="URL",
        help="only these targets (registered if new); default: all",
    )

    consent = command("consent", "operator's consent tools", "tracker consent show ...")
    consent_sub = consent.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for action, text in (
        ("grant", "record a grant (method=operator)"),
        ("withdraw", "record a withdrawal (method=operator)"),
        ("show", "show the current consent state"),
    ):
        cmd = command(
            action,
            text,
            f"tracker consent {action} --account acc_... --recipient ada@example.org",
            consent_sub,
            f"consent {action}",
        )
        cmd.add_argument("--account", required=True)
        cmd.add_argument("--recipient", required=True, metavar="EMAIL")
        if action != "show":
            cmd.add_argument("--note", help="why, kept in the ledger as evidence")
    texts = command(
        "text", "the account's consent texts", "tracker consent text set ...", consent_sub
    )
    text_sub = texts.add_subparsers(dest="text_action", required=True, parser_class=_Parser)
    text_set = command(
        "set",
        "add a new version of the consent text in one language; --new-purpose when the "
        "purpose changed (earlier grants then stop counting), none for a wording fix",
        "tracker consent text set --account acc_... --lang de --file einwilligung.txt",
        text_sub,
        "consent text set",
    )
    text_show = command(
        "show",
        "print the current consent text as a recipient sees it",
        "tracker consent text show --account acc_... --lang en",
        text_sub,
        "consent text show",
    )
    for cmd in (text_set, text_show):
        cmd.add_argument("--account", required=True)
        cmd.add_argument("--lang", required=True, choices=["de", "en"])
    text_set.add_argument("--file", required=True, help="UTF-8 text; '## ' starts a heading")
    text_set.add_argument("--new-purpose", action="store_true")
    importing = command(
        "import",
        "import consents collected elsewhere (CSV with email,granted_at,evidence or JSON "
        "lines with the same keys); marked as imported in every export",
        "tracker consent import --account acc_... --file signups.csv",
        consent_sub,
        "consent import",
    )
    importing.add_argument("--account", required=True)
    importing.add_argument("--file", required=True)
    importing.add_argument(
        "--format", choices=["csv", "jsonl"], help="default: by the file name's ending"
    )

    report = command(
        "report", "the campaign report (k-anonymous)", "tracker report --campaign cmp_... --json"
    )
    report.add_argument("--campaign", required=True)
    report.add_argument(
        "--link",
        action="store_true",
        help="print a link to the report page instead (valid for an hour)",
    )
    rewrite = command(
        "rewrite",
        "rewrite a mail's HTML for one recipient: tracked links, pixel, honeypot, consent "
        "footer (or a batch: --recipients FILE --out-dir DIR, one file each)",
        "tracker rewrite --campaign cmp_... --recipient ada@example.org < mail.html > out.html",
    )
    rewrite.add_argument("--campaign", required=True)
    rewrite.add_argument("--recipient", metavar="EMAIL")
    rewrite.add_argument(
        "--recipients", metavar="FILE", help="CSV (column 'email') or JSON list of recipients"
    )
    rewrite.add_argument("--out-dir", metavar="DIR")
    rewrite.add_argument("--input", metavar="FILE", help="the mail's HTML (default: stdin)")
    rewrite.add_argument(
        "--lang", choices=["de", "en"], default="en", help="language of the consent footer"
    )

    dpo = command("dpo", "the DPO's tools", "tracker dpo access ...")
    dpo_sub = dpo.add_subparsers(dest="action", required=True, parser_class=_Parser)

    def dpo_command(name: str, text: str, example: str, account: bool = True) -> _Parser:
        cmd = command(name, text, example, dpo_sub, f"dpo {name}")
        if account:
            cmd.add_argument("--account", required=True)
        return cmd

    export = dpo_command(
        "export-consents",
        "the account's consent ledger with proof, streamed to stdout (progress on stderr)",
        "tracker dpo export-consents --account acc_... --format csv > consents.csv",
    )
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    for name, text in (
        ("access", "everything held about one recipient (Art. 15), as a letter or --json"),
        ("erase", "erase one recipient (Art. 17): events deleted, key destroyed"),
    ):
        cmd = dpo_command(
            name, text, f"tracker dpo {name} --account acc_... --recipient ada@example.org"
        )
        cmd.add_argument("--recipient", required=True, metavar="EMAIL")
    ropa = dpo_command(
        "ropa",
        "the record of processing activities (Art. 30) from the account's settings",
        "tracker dpo ropa --account acc_... --format md > ropa.md",
    )
    ropa.add_argument("--format", choices=["md", "json"], default="md")
    dpo_command(
        "purge",
        "apply retention now (the server also runs it daily)",
        "tracker dpo purge",
        account=False,
    )
    dpo_command(
        "verify-ledger",
        "recompute the ledger's hash chain; exits 1 naming the first bad row",
        "tracker dpo verify-ledger --account acc_...",
    )
    audit = dpo_command(
        "audit",
        "every export, access, erasure, purge and dpo API use, newest first",
        "tracker dpo audit --account acc_...",
    )
    audit.add_argument("--limit", type=int, default=1000)

    classify = command(
        "classify",
        "read JSON lines of requests on stdin, write one verdict line per request",
        "tracker classify < requests.jsonl > verdicts.jsonl",
    )
    classify.description = CLASSIFY_HELP
    ranges = command("ranges", "address ranges of the classification", "tracker ranges update ...")
    ranges_sub = ranges.add_subparsers(dest="action", required=True, parser_class=_Parser)
    update = command(
        "update",
        "replace one source's address ranges from a downloaded file (offline, checked first)",
        "tracker ranges update --source apple --file egress-ip-ranges.csv",
        ranges_sub,
        "ranges update",
    )
    update.add_argument("--source", required=True, choices=sorted(SOURCES))
    update.add_argument(
        "--file",
        required=True,
        type=Path,
        help="apple: Apple's egress-ip-ranges.csv; the others: one network (CIDR) a line",
    )

    webhook = command(
        "webhook", "signed webhooks for consenting recipients' events", "tracker webhook add ..."
    )
    webhook_sub = webhook.add_subparsers(dest="action", required=True, parser_class=_Parser)
    hook_add = command(
        "add",
        "add an endpoint; prints its id and signing secret (default verdicts: human)",
        "tracker webhook add --account acc_... --url https://crm.example.org/hook",
        webhook_sub,
        "webhook add",
    )
    hook_add.add_argument("--url", required=True)
    hook_add.add_argument("--verdicts", default="human", help="e.g. human,proxy")
    hook_add.add_argument(
        "--hourly-summary",
        action="store_true",
        help="instead of events: each hour's campaign figures, anonymous (k rule)",
    )
    command(
        "list",
        "the account's endpoints",
        "tracker webhook list --account acc_...",
        webhook_sub,
        "webhook list",
    )
    hook_remove = command(
        "remove",
        "remove an endpoint",
        "tracker webhook remove --account acc_... --webhook whk_...",
        webhook_sub,
        "webhook remove",
    )
    hook_deliveries = command(
        "deliveries",
        "recent deliveries and their results",
        "tracker webhook deliveries --account acc_... --webhook whk_...",
        webhook_sub,
        "webhook deliveries",
    )
    hook_deliveries.add_argument("--limit", type=int, default=50)
    hook_replay = command(
        "replay",
        "send again what was delivered or given up since a time",
        "tracker webhook replay --account acc_... --webhook whk_... --since 2026-11-01T00:00:00Z",
        webhook_sub,
        "webhook replay",
    )
    hook_replay.add_argument("--since", required=True, metavar="ISO8601")
    for cmd in (hook_remove, hook_deliveries, hook_replay):
        cmd.add_argument("--webhook", required=True)
    command(
        "deliver",
        "deliver webhooks in this process (for TRACKER_WEBHOOK_DELIVERY=off servers)",
        "TRACKER_WEBHOOK_DELIVERY=off tracker serve & tracker webhook deliver",
        webhook_sub,
        "webhook deliver",
    )
    for action in ("add", "list", "remove", "deliveries", "replay"):
        webhook_sub.choices[action].add_argument("--account", required=True)

    keys = command("keys", "URL signing keys", "tracker keys rotate")
    keys_sub = keys.add_subparsers(dest="action", required=True, parser_class=_Parser)
    command(
        "rotate",
        "add a new signing key; old URLs keep working",
        "tracker keys rotate",
        keys_sub,
        "keys rotate",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environ()
        output = _dispatch(settings, args)
    except TrackerError as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `tracker dpo export-consents ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    _emit(output, args.json)
    return 0


def _dispatch(settings: Settings, args: argparse.Namespace) -> Output:
    if args.key == "demo":
        from tracker.demo import demo

        return demo(settings, args)
    if args.key in ("consent grant", "consent withdraw"):
        args.action = args.key.split()[1]
    if args.key == "report" and args.link:
        return MAIL_COMMANDS["report link"](settings, args)
    if args.key in MAIL_COMMANDS:
        return MAIL_COMMANDS[args.key](settings, args)
    if args.key in WEBHOOK_COMMANDS:
        return WEBHOOK_COMMANDS[args.key](settings, args)
    if args.key in DPO_COMMANDS:
        return DPO_COMMANDS[args.key](settings, args)
    if args.key in CONSENT_COMMANDS:
        return CONSENT_COMMANDS[args.key](settings, args)
    return COMMANDS[args.key](settings, args)


def _emit(output: Output, as_json: bool) -> None:
    if as_json or output.text is None:
        if output.data is not None:
            print(json.dumps(output.data, ensure_ascii=False))
    else:
        print(output.text)


if __name__ == "__main__":
    sys.exit(main())
