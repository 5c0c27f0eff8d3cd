"""The ``tracker`` command line. Every command takes ``--json``; mistakes get one line."""

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from tracker.commands import COMMANDS, Output
from tracker.errors import TrackerError
from tracker.settings import Settings

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

    report = command(
        "report", "the campaign report (k-anonymous)", "tracker report --campaign cmp_... --json"
    )
    report.add_argument("--campaign", required=True)

    dpo = command("dpo", "the DPO's tools", "tracker dpo access ...")
    dpo_sub = dpo.add_subparsers(dest="action", required=True, parser_class=_Parser)
    access = command(
        "access",
        "everything held about one recipient (Art. 15)",
        "tracker dpo access --account acc_... --recipient ada@example.org",
        dpo_sub,
        "dpo access",
    )
    access.add_argument("--account", required=True)
    access.add_argument("--recipient", required=True, metavar="EMAIL")

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
    _emit(output, args.json)
    return 0


def _dispatch(settings: Settings, args: argparse.Namespace) -> Output:
    if args.key == "demo":
        from tracker.demo import demo

        return demo(settings, args)
    if args.key in ("consent grant", "consent withdraw"):
        args.action = args.key.split()[1]
    return COMMANDS[args.key](settings, args)


def _emit(output: Output, as_json: bool) -> None:
    if as_json:
        print(json.dumps(output.data, ensure_ascii=False))
    else:
        print(output.text)


if __name__ == "__main__":
    sys.exit(main())
