"""SMTP_URL, parsed: what the SMTP mailer connects with. A module of its own
so that settings can check the URL without importing the mailer."""

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> "SmtpConfig":
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("SMTP_URL must name a host")
        implicit_tls = parts.scheme == "smtps"
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        default_port = 465 if implicit_tls else (587 if username else 25)
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            implicit_tls=implicit_tls,
            username=username,
            password=password,
        )
