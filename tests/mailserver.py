"""Real SMTP servers (aiosmtpd) on 127.0.0.1, with an inbox a test can wait on.

Variants: plain; STARTTLS (optionally required, with AUTH); implicit TLS; and
a stalled one that holds every message at DATA until the test releases it.
Certificates come from a trustme CA that the mailer is told to trust through
SSL_CERT_FILE, as a deployment would point it at its own bundle.
"""

import asyncio
import email
import email.policy
import logging
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Row, select, update

from service.models import AccountToken
from tests.helpers import Account, auth_headers, me

HOST = "127.0.0.1"
WAIT_SECONDS = 10.0
# Longer than the mailer's SMTP timeout, so a stalled server outlasts any client.
STALL_LIMIT_SECONDS = 30.0
TOKEN_PATTERN = re.compile(r"token=([A-Za-z0-9_-]+)")

# aiosmtpd logs every connection at INFO; the service now logs at INFO too.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Delivery:
    """One message as the server received it, and how it came."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    tls: bool
    authenticated: bool


class Inbox:
    """Every message a server accepted, in the order it accepted them."""

    def __init__(self) -> None:
        self._arrived = threading.Condition()
        self._deliveries: list[Delivery] = []

    def add(self, delivery: Delivery) -> None:
        with self._arrived:
            self._deliveries.append(delivery)
            self._arrived.notify_all()

    @property
    def deliveries(self) -> list[Delivery]:
        with self._arrived:
            return list(self._deliveries)

    @property
    def messages(self) -> list[EmailMessage]:
        return [delivery.message for delivery in self.deliveries]

    def wait_for(self, count: int = 1, timeout: float = WAIT_SECONDS) -> list[EmailMessage]:
        """The messages once at least `count` have arrived; AssertionError if they do not."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self._deliveries) >= count, timeout)
            if not arrived:
                raise AssertionError(
                    f"expected {count} message(s) within {timeout:g} s, "
                    f"got {len(self._deliveries)}: {self._describe()}"
                )
            return [delivery.message for delivery in self._deliveries]

    def matching(self, *, to: str, subject: str | None = None) -> list[EmailMessage]:
        """The messages to `to` (with `subject`, when given) that have arrived so far."""
        return [
            message
            for message in self.messages
            if message["To"] == to and (subject is None or message["Subject"] == subject)
        ]

    def wait_for_message(
        self, *, to: str, subject: str | None = None, nth: int = 1, timeout: float = WAIT_SECONDS
    ) -> EmailMessage:
        """The `nth` message to `to` (with `subject`, when given), once it has arrived."""
        with self._arrived:
            arrived = self._arrived.wait_for(
                lambda: len(self.matching(to=to, subject=subject)) >= nth, timeout
            )
            if not arrived:
                wanted = f"to {to}" + (f" with subject {subject!r}" if subject else "")
                raise AssertionError(
                    f"no message #{nth} {wanted} within {timeout:g} s; got: {self._describe()}"
                )
            return self.matching(to=to, subject=subject)[nth - 1]

    def to(self, address: str) -> list[EmailMessage]:
        """The messages to `address` that have arrived so far."""
        return [message for message in self.messages if message["To"] == address]

    def _describe(self) -> str:
        return (
            ", ".join(
                f"{delivery.message['Subject']!r} to {delivery.message['To']}"
                for delivery in self._deliveries
            )
            or "nothing"
        )


class RecordingHandler:
    """Accepts every message into the inbox."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.inbox.add(_delivery(server, session, envelope))
        return "250 Message accepted for delivery"


class StalledHandler(RecordingHandler):
    """Holds each message at DATA until `release()`: the mail server is slow."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__(inbox)
        self.reached = threading.Event()
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.reached.set()
        # Waited for on a thread of its own; stop() releases it, so that thread ends too.
        await asyncio.to_thread(self.released.wait, STALL_LIMIT_SECONDS)
        return await super().handle_DATA(server, session, envelope)


def _delivery(server: SMTP, session: Session, envelope: Envelope) -> Delivery:
    content = envelope.content
    raw = content if isinstance(content, bytes) else str(content).encode()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return Delivery(
        mail_from=str(envelope.mail_from),
        rcpt_tos=tuple(envelope.rcpt_tos),
        message=message,
        tls=_over_tls(server),
        authenticated=bool(session.authenticated),
    )


def _over_tls(server: SMTP) -> bool:
    """Whether the connection is encrypted, by STARTTLS or from the first byte."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


@dataclass(frozen=True)
class Login:
    username: str
    accepted: bool
    over_tls: bool


@dataclass
class Authenticator:
    """Accepts one user and password; records every attempt."""

    username: str
    password: str
    attempts: list[Login] = field(default_factory=list)

    def __call__(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        username = auth_data.login.decode()
        accepted = username == self.username and auth_data.password.decode() == self.password
        self.attempts.append(
            Login(username=username, accepted=accepted, over_tls=_over_tls(server))
        )
        if accepted:
            return AuthResult(success=True, auth_data=username)
        return AuthResult(success=False, handled=False)


class _Controller(Controller):
    """aiosmtpd's controller, on a port the system picks (port 0)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailServer:
    """An SMTP server on 127.0.0.1 and a free port; start() before use, stop() after."""

    def __init__(
        self,
        *,
        handler_factory: Callable[[Inbox], RecordingHandler] = RecordingHandler,
        starttls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls_context: ssl.SSLContext | None = None,
        authenticator: Authenticator | None = None,
        auth_required: bool = False,
        auth_require_tls: bool = True,
    ) -> None:
        self.inbox = Inbox()
        self.handler = handler_factory(self.inbox)
        self.authenticator = authenticator
        self._controller = _Controller(
            self.handler,
            hostname=HOST,
            port=0,
            ssl_context=implicit_tls_context,
            tls_context=starttls_context,
            require_starttls=require_starttls,
            authenticator=authenticator,
            auth_required=auth_required,
            auth_require_tls=auth_require_tls,
        )

    @property
    def port(self) -> int:
        return self._controller.port

    def url(
        self, *, scheme: str = "smtp", username: str | None = None, password: str | None = None
    ) -> str:
        credentials = ""
        if username is not None:
            credentials = quote(username, safe="")
            if password is not None:
                credentials += ":" + quote(password, safe="")
            credentials += "@"
        return f"{scheme}://{credentials}{HOST}:{self.port}"

    def start(self) -> "MailServer":
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop the server; stopping one that has stopped does nothing."""
        if isinstance(self.handler, StalledHandler):
            self.handler.release()
        if getattr(self, "_running", False):
            self._controller.stop()
            self._running = False


def server_tls_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate the CA issued for 127.0.0.1 and localhost."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(HOST, "localhost").configure_cert(context)
    return context


def write_ca_bundle(ca: trustme.CA, directory: Path) -> Path:
    path = directory / "trusted-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def token_in(message: EmailMessage) -> str:
    """The token of the link in `message`."""
    found = TOKEN_PATTERN.search(body_of(message))
    assert found, f"no token link in the message:\n{body_of(message)}"
    return found.group(1)


def body_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage), message
    # As sent: lines end in CRLF on the wire.
    return body.get_content().replace("\r\n", "\n")


def settle(client: TestClient) -> None:
    """Shut the client's app down: its outbox has then delivered every message handed to it.

    After this, what the inbox holds is all the app will ever send, so a test
    can say that something was *not* mailed without waiting for it.
    """
    client.__exit__(None, None, None)


# The service's messages, and the requests that send them.

RESET_SUBJECT = "Reset your password"
VERIFY_SUBJECT = "Confirm your email address"
RESET_NOTICE_SUBJECT = "Your password was reset"
PASSWORD_CHANGED_SUBJECT = "Your password was changed"
EMAIL_CHANGED_SUBJECT = "Your account's email address was changed"
EMAIL_CHANGE_SUBJECT = "Confirm your new email address"
EMAIL_CHANGE_ASKED_SUBJECT = "A change of your account's email address was asked"


def forgot(client: TestClient, email: str, **headers: str) -> httpx.Response:
    return client.post("/password/forgot", json={"email": email}, headers=headers)


def reset(client: TestClient, token: str, new_password: str) -> httpx.Response:
    return client.post("/password/reset", json={"token": token, "new_password": new_password})


def request_verification(client: TestClient, access_token: str) -> httpx.Response:
    return client.post("/users/me/verify", headers=auth_headers(access_token))


def verify(client: TestClient, token: str) -> httpx.Response:
    return client.post("/verify", json={"token": token})


def mailed_reset_token(client: TestClient, inbox: Inbox, email: str) -> str:
    """Ask for a reset of `email`'s password; the token of the link that arrives."""
    seen = len(inbox.matching(to=email, subject=RESET_SUBJECT))
    response = forgot(client, email)
    assert response.status_code == 202, response.text
    return token_in(inbox.wait_for_message(to=email, subject=RESET_SUBJECT, nth=seen + 1))


def mailed_verification_token(client: TestClient, inbox: Inbox, account: Account) -> str:
    """Ask for a verification of `account`'s address; the token of the link that arrives."""
    email = me(client, account.access_token).json()["email"]
    seen = len(inbox.matching(to=email, subject=VERIFY_SUBJECT))
    response = request_verification(client, account.access_token)
    assert response.status_code == 202, response.text
    return token_in(inbox.wait_for_message(to=email, subject=VERIFY_SUBJECT, nth=seen + 1))


def ask_email_change(client: TestClient, account: Account, new_email: str) -> httpx.Response:
    return client.patch(
        "/users/me",
        headers=account.headers,
        json={"email": new_email, "current_password": account.password},
    )


def confirm_email(client: TestClient, token: str) -> httpx.Response:
    return client.post("/email/confirm", json={"token": token})


def mailed_email_change_token(
    client: TestClient, inbox: Inbox, account: Account, new_email: str
) -> str:
    """Ask to move `account` to `new_email`; the token of the link that arrives there."""
    seen = len(inbox.matching(to=new_email, subject=EMAIL_CHANGE_SUBJECT))
    response = ask_email_change(client, account, new_email)
    assert response.status_code == 200, response.text
    message = inbox.wait_for_message(to=new_email, subject=EMAIL_CHANGE_SUBJECT, nth=seen + 1)
    return token_in(message)


def change_email_confirmed(
    client: TestClient, inbox: Inbox, account: Account, new_email: str
) -> None:
    """Move `account` to `new_email` the whole way: ask, then follow the link mailed there."""
    token = mailed_email_change_token(client, inbox, account, new_email)
    response = confirm_email(client, token)
    assert response.status_code == 200, response.text


# The tokens in the database


def token_rows(engine: Engine) -> list[Row[Any]]:
    with engine.connect() as connection:
        return list(connection.execute(select(AccountToken.__table__)).all())


def expire_tokens(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(AccountToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
