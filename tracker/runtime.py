"""The objects every entry point needs, built once from settings and secrets."""

from dataclasses import dataclass

from aggregates.hll import SketchHasher
from tracker.crypto import EmailVault
from tracker.keyfiles import Secrets, load_secrets
from tracker.recipients import RecipientDirectory
from tracker.settings import Settings
from tracker.tokens import UrlSigner

__all__ = ["Runtime"]


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    secrets: Secrets
    signer: UrlSigner
    directory: RecipientDirectory
    hasher: SketchHasher

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        secrets = load_secrets(settings)
        return cls(
            settings=settings,
            secrets=secrets,
            signer=UrlSigner(secrets.signing_keys, secrets.signing_keys_file),
            directory=RecipientDirectory(EmailVault(secrets.kek), secrets.blind_index_key),
            hasher=SketchHasher(secrets.derived_key("hll-v1")),
        )
