"""The record of processing activities (Art. 30 GDPR) for one account, from its live
settings: what a DPO files, in Markdown or JSON."""

from datetime import UTC, datetime
from typing import Any

from tracker.db import Account

__all__ = ["build_ropa", "render_ropa"]

_NOT_SET = "not set (tracker account set)"


def build_ropa(account: Account) -> dict[str, Any]:
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "activity": "Per-recipient open and click evaluation of e-mails, with consent",
        "controller": {
            "name": account.controller,
            "address": account.controller_address or _NOT_SET,
            "contact": account.contact_email or _NOT_SET,
            "privacy_notice": account.privacy_url or _NOT_SET,
        },
        "dpo": account.dpo_contact or _NOT_SET,
        "purposes": [
            "Learning which content of the controller's e-mails interests each recipient "
            "who consented (purpose version "
            f"{account.purpose_version})",
            "Anonymous campaign statistics for all recipients (no personal data)",
        ],
        "legal_basis": "Consent, Art. 6(1)(a) GDPR and Art. 5(3) ePrivacy Directive; the "
        "anonymous statistics process no personal data",
        "data_subjects": ["Recipients of the controller's e-mails"],
        "data_categories": [
            "E-mail address (stored encrypted, found by a keyed blind index)",
            "Consent decisions with time, method, text version and hash, and evidence "
            "(keyed hashes of address and user agent, never the values)",
            "For consenting recipients only: opens and clicks with time, campaign, link and "
            "a human/proxy/machine verdict",
        ],
        "not_collected": ["IP addresses", "user agents", "location", "device identifiers"],
        "recipients": [
            "The controller",
            "The operator of the server as processor, if any",
            "Operators of the webhook endpoints the controller configures, for consenting "
            "recipients' events only (tracker webhook list)",
        ],
        "third_country_transfers": "none",
        "retention": {
            "events_days": account.retention_days,
            "consent_validity_days": account.consent_validity_days,
            "consent_proof_days_after_withdrawal": account.proof_days,
            "anonymous_counters": "with the campaign; they identify no one",
        },
        "technical_and_organisational_measures": [
            "Per-recipient events written only under granted consent, checked in the "
            "database transaction that writes them",
            "E-mail addresses encrypted with a per-recipient key (AES-GCM) wrapped by a key "
            "kept outside the database; erasure destroys the key",
            "Signed tracking URLs (HMAC-SHA256, key rotation); no open redirects",
            "Append-only, hash-chained consent ledger (tracker dpo verify-ledger)",
            "Anonymous counters per hour with k-anonymity (k=5) in every report",
            "No IP addresses, user agents, e-mail addresses or tokens in logs",
            "Audit log of every export, access, erasure, purge and DPO API use",
            "Retention enforced daily by dropping monthly partitions",
        ],
    }


def render_ropa(ropa: dict[str, Any]) -> str:
    controller = ropa["controller"]
    retention = ropa["retention"]
    lines = [
        "# Record of processing activities (Art. 30 GDPR)",
        "",
        f"Generated {ropa['generated_at']} from the account's live settings.",
        "",
        f"**Processing activity:** {ropa['activity']}",
        "",
        "## Controller",
        "",
        f"- Name: {controller['name']}",
        f"- Address: {controller['address']}",
        f"- Contact: {controller['contact']}",
        f"- Privacy notice: {controller['privacy_notice']}",
        f"- Data protection officer: {ropa['dpo']}",
        "",
        "## Purposes and legal basis",
        "",
        *(f"- {p}" for p in ropa["purposes"]),
        f"- Legal basis: {ropa['legal_basis']}",
        "",
        "## Categories",
        "",
        "Data subjects: " + "; ".join(ropa["data_subjects"]),
        "",
        *(f"- {c}" for c in ropa["data_categories"]),
        "",
        "Not collected: " + ", ".join(ropa["not_collected"]) + ".",
        "",
        "## Recipients and transfers",
        "",
        *(f"- {r}" for r in ropa["recipients"]),
        f"- Transfers to third countries: {ropa['third_country_transfers']}",
        "",
        "## Retention",
        "",
        f"- Opens and clicks: {retention['events_days']} days",
        f"- Consent validity: {retention['consent_validity_days']} days",
        f"- Consent proof after withdrawal: {retention['consent_proof_days_after_withdrawal']}"
        " days",
        f"- Anonymous counters: {retention['anonymous_counters']}",
        "",
        "## Technical and organisational measures",
        "",
        *(f"- {m}" for m in ropa["technical_and_organisational_measures"]),
        "",
    ]
    return "\n".join(lines)
