"""DSN manipulation for tests: the same server, another database."""

from urllib.parse import urlsplit, urlunsplit


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))
