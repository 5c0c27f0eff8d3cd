"""Errors of the consent package.

ConsentError           base class; the message is a sentence for the user
└── UnknownRecipient   no recipient with that address in the account
"""

from tracker.errors import NotFound

__all__ = ["ConsentError", "UnknownRecipient"]


class ConsentError(Exception):
    pass


class UnknownRecipient(ConsentError, NotFound):
    pass
