"""The consent page's own words in German and English, and choosing between them."""

from consent.texts import LANGUAGES

__all__ = ["MESSAGES", "choose_language"]


def choose_language(query: str | None, accept_language: str | None) -> str:
    """An explicit ?lang= wins; else the best of Accept-Language; else English."""
    if query in LANGUAGES:
        return query
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best


MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your consent to open and click tracking",
        "from": "E-mails from",
        "state_none": "You have not decided yet. Nothing is recorded about you personally.",
        "state_granted": "You have agreed. Opens and clicks of your e-mails are recorded "
        "until {expires}.",
        "state_withdrawn": "You have withdrawn your consent. Nothing is recorded about you "
        "personally.",
        "state_expired": "Your consent has lapsed (it ran out, or the purpose changed). "
        "Nothing is recorded about you personally until you agree again.",
        "grant": "Yes, I agree to this recording",
        "withdraw": "Withdraw my consent",
        "done_granted": "Thank you. Your consent is recorded.",
        "done_withdrawn": "Your consent is withdrawn. Recording has stopped.",
        "refused": "We could not confirm that a person pressed the button. "
        "Please read the text and press it again.",
        "expired_form": "This page was open for too long. Please press the button again.",
        "too_many": "Too many attempts. Please wait a minute and try again.",
        "no_text": "The sender has not published a consent text for its current purpose, "
        "so consent cannot be given at the moment.",
        "version": "Text version {version}, SHA-256 {sha}",
        "language": "Sprache: Deutsch",
        "no_change": "Whether you agree or not, you keep receiving the same e-mails.",
    },
    "de": {
        "title": "Ihre Einwilligung in die Öffnungs- und Klickmessung",
        "from": "E-Mails von",
        "state_none": "Sie haben noch nicht entschieden. Über Sie persönlich wird nichts erfasst.",
        "state_granted": "Sie haben zugestimmt. Öffnungen und Klicks Ihrer E-Mails werden "
        "bis {expires} erfasst.",
        "state_withdrawn": "Sie haben Ihre Einwilligung widerrufen. Über Sie persönlich wird "
        "nichts erfasst.",
        "state_expired": "Ihre Einwilligung ist erloschen (abgelaufen, oder der Zweck hat sich "
        "geändert). Über Sie persönlich wird nichts erfasst, bis Sie erneut zustimmen.",
        "grant": "Ja, ich stimme dieser Erfassung zu",
        "withdraw": "Meine Einwilligung widerrufen",
        "done_granted": "Vielen Dank. Ihre Einwilligung ist gespeichert.",
        "done_withdrawn": "Ihre Einwilligung ist widerrufen. Die Erfassung ist beendet.",
        "refused": "Wir konnten nicht bestätigen, dass ein Mensch den Knopf gedrückt hat. "
        "Bitte lesen Sie den Text und drücken Sie ihn noch einmal.",
        "expired_form": "Diese Seite war zu lange geöffnet. Bitte drücken Sie den Knopf "
        "noch einmal.",
        "too_many": "Zu viele Versuche. Bitte warten Sie eine Minute.",
        "no_text": "Der Absender hat für seinen aktuellen Zweck keinen Einwilligungstext "
        "veröffentlicht; eine Einwilligung ist derzeit nicht möglich.",
        "version": "Textversion {version}, SHA-256 {sha}",
        "language": "Language: English",
        "no_change": "Ob Sie zustimmen oder nicht: Sie erhalten weiterhin dieselben E-Mails.",
    },
}
