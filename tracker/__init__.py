"""Consent-gated e-mail open and click tracking server."""

__version__ = "0.1.0"
