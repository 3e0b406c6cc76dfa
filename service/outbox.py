"""Outgoing mail: a message, the backends that deliver it, and the outbox
that sends without making a request wait.

`SMTP_URL` picks the SMTP backend:

- `smtp://host[:port]`: plain SMTP, upgraded with STARTTLS when the server
  offers it; with a user and password in the URL, STARTTLS is required, so a
  password never crosses the network in clear (default port 587 then, else 25);
- `smtps://user:password@host[:465]`: TLS from the first byte.

Without it, messages go to the log in development and test (the console
backend), and nowhere in production, where a token in a log would be a leak:
`MAIL_BACKEND` says so explicitly (`smtp`, `console`, `none`).
"""

import contextvars
import logging
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Protocol

from service.smtp_url import SmtpConfig

if TYPE_CHECKING:
    from service.config import Settings

logger = logging.getLogger("service.mail")

SMTP_TIMEOUT_SECONDS = 10
# Sending is I/O: a couple of threads keep a slow server from holding up
# anything else, and the queue in front of them absorbs a burst.
OUTBOX_THREADS = 2


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str
    # What the message is for, for the log: never its content.
    purpose: str


class Mailer(Protocol):
    def send(self, message: Message) -> None: ...


class SmtpMailer:
    """One SMTP connection per message, with bounded waits."""

    def __init__(self, config: SmtpConfig, *, sender: str) -> None:
        self.config = config
        self.sender = sender

    def send(self, message: Message) -> None:
        config = self.config
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if config.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                config.host, config.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if not config.implicit_tls:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif config.username:
                    raise smtplib.SMTPNotSupportedError(
                        "the server does not offer STARTTLS; refusing to log in in clear"
                    )
            if config.username:
                smtp.login(config.username, config.password or "")
            smtp.send_message(self._email(message))

    def _email(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = make_msgid(
            domain=parseaddr(self.sender)[1].rpartition("@")[2] or None
        )
        email.set_content(message.body)
        return email


class ConsoleMailer:
    """Development: the whole message in the log, link and token included."""

    def send(self, message: Message) -> None:
        logger.info(
            "mail (console backend, not sent) to=%s subject=%s\n%s",
            message.to,
            message.subject,
            message.body,
        )


class NullMailer:
    """No mail configured in production: say what was dropped, never its content."""

    def send(self, message: Message) -> None:
        logger.warning("mail not sent (MAIL_BACKEND=none): %s", message.purpose)


def make_mailer(settings: "Settings") -> Mailer:
    backend = settings.effective_mail_backend
    if backend == "smtp" and settings.smtp_url:
        return SmtpMailer(SmtpConfig.from_url(settings.smtp_url), sender=settings.mail_from)
    if backend == "console":
        return ConsoleMailer()
    logger.warning(
        "MAIL_BACKEND=%s: no mail is sent, so password resets and email verification "
        "do not work (set SMTP_URL)",
        backend,
    )
    return NullMailer()


class Outbox:
    """Hands messages to the mailer on threads of its own, so a request never
    waits for a mail server, and a failure is logged, never raised."""

    def __init__(self, mailer: Mailer, *, threads: int = OUTBOX_THREADS) -> None:
        self.mailer = mailer
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mail")

    def post(self, message: Message) -> None:
        # In the request's context, so what delivery logs carries its id.
        self._executor.submit(contextvars.copy_context().run, self._deliver, message)

    def _deliver(self, message: Message) -> None:
        try:
            self.mailer.send(message)
        except Exception as exc:  # any failure of delivery, which no client may see
            # The class and the server's reply, never the message: it may carry a token.
            logger.warning(
                "mail delivery failed (%s): %s: %s",
                message.purpose,
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )

    def shutdown(self, *, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait)
