"""Outgoing mail: the SMTP, console and none backends and the outbox, through
real SMTP servers on 127.0.0.1; the settings that choose them; and the
notices of password and address changes."""

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import trustme
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from service.config import Settings
from service.outbox import (
    ConsoleMailer,
    Message,
    NullMailer,
    Outbox,
    SmtpConfig,
    SmtpMailer,
    make_mailer,
)
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    promote,
    register,
)
from tests.mailserver import (
    EMAIL_CHANGED_SUBJECT,
    PASSWORD_CHANGED_SUBJECT,
    RESET_SUBJECT,
    Authenticator,
    Inbox,
    MailServer,
    StalledHandler,
    body_of,
    change_email_confirmed,
    forgot,
    request_verification,
    server_tls_context,
    settle,
    token_in,
    write_ca_bundle,
)

SENDER = "Accounts <accounts@example.com>"
SMTP_USER = "mailer"
SMTP_PASSWORD = "p@ss:w/rd%20"
NEW_PASSWORD = "fresh-orbit-lantern-77"
MAIL_LOGGER = "service.mail"

MakeClient = Callable[..., TestClient]


def a_message(to: str = "ada@example.com", body: str = "Hello, Ada.") -> Message:
    return Message(to=to, subject="A subject", body=body, purpose="a test message")


def deliver(url: str, message: Message, *, sender: str = SENDER) -> None:
    """Send `message` through an outbox with the SMTP backend, and wait until it is done."""
    outbox = Outbox(SmtpMailer(SmtpConfig.from_url(url), sender=sender))
    outbox.post(message)
    outbox.shutdown(wait=True)


def mail_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == MAIL_LOGGER and record.levelno == logging.WARNING
    ]


def mail_log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records if record.name == MAIL_LOGGER)


def closed_port() -> int:
    """A port of 127.0.0.1 nobody listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def warnings_of_mail(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=MAIL_LOGGER)
    return caplog


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted_ca(
    certificate_authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> trustme.CA:
    """The mailer trusts the test CA, as a deployment trusts its own bundle."""
    monkeypatch.setenv("SSL_CERT_FILE", str(write_ca_bundle(certificate_authority, tmp_path)))
    return certificate_authority


def running(server: MailServer) -> Iterator[MailServer]:
    server.start()
    yield server
    server.stop()


@pytest.fixture
def starttls_server(trusted_ca: trustme.CA) -> Iterator[MailServer]:
    """Offers STARTTLS, but does not insist on it."""
    yield from running(MailServer(starttls_context=server_tls_context(trusted_ca)))


@pytest.fixture
def authenticating_server(trusted_ca: trustme.CA) -> Iterator[MailServer]:
    """A submission server: STARTTLS first, then AUTH, then mail."""
    yield from running(
        MailServer(
            starttls_context=server_tls_context(trusted_ca),
            require_starttls=True,
            authenticator=Authenticator(SMTP_USER, SMTP_PASSWORD),
            auth_required=True,
            auth_require_tls=True,
        )
    )


@pytest.fixture
def smtps_server(trusted_ca: trustme.CA) -> Iterator[MailServer]:
    """TLS from the first byte, then AUTH. (aiosmtpd counts only STARTTLS as TLS for
    auth_require_tls, so it is off here; every byte is encrypted anyway.)"""
    yield from running(
        MailServer(
            implicit_tls_context=server_tls_context(trusted_ca),
            authenticator=Authenticator(SMTP_USER, SMTP_PASSWORD),
            auth_require_tls=False,
        )
    )


@pytest.fixture
def cleartext_auth_server() -> Iterator[MailServer]:
    """Offers AUTH without TLS, as a misconfigured server would: it would take a password."""
    yield from running(
        MailServer(authenticator=Authenticator(SMTP_USER, SMTP_PASSWORD), auth_require_tls=False)
    )


@pytest.fixture
def stalled_server() -> Iterator[MailServer]:
    yield from running(MailServer(handler_factory=StalledHandler))


def stalled(server: MailServer) -> StalledHandler:
    assert isinstance(server.handler, StalledHandler)
    return server.handler


# SMTP_URL


def test_smtp_url_without_credentials_defaults_to_port_25() -> None:
    config = SmtpConfig.from_url("smtp://mail.example.com")

    assert (config.host, config.port, config.implicit_tls) == ("mail.example.com", 25, False)
    assert (config.username, config.password) == (None, None)


def test_smtp_url_with_credentials_defaults_to_the_submission_port_587() -> None:
    config = SmtpConfig.from_url("smtp://user:secret@mail.example.com")

    assert (config.port, config.implicit_tls) == (587, False)
    assert (config.username, config.password) == ("user", "secret")


def test_smtps_url_defaults_to_port_465_with_implicit_tls() -> None:
    config = SmtpConfig.from_url("smtps://user:secret@mail.example.com")

    assert (config.port, config.implicit_tls) == (465, True)


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("smtp://mail.example.com:2525", 2525),
        ("smtp://user:secret@mail.example.com:25", 25),
        ("smtps://user:secret@mail.example.com:2465", 2465),
    ],
)
def test_smtp_url_keeps_an_explicit_port(url: str, port: int) -> None:
    assert SmtpConfig.from_url(url).port == port


def test_smtp_url_credentials_are_percent_decoded() -> None:
    config = SmtpConfig.from_url("smtp://me%40example.com:p%40ss%3Aw%2Frd%2520@mail.example.com")

    assert config.username == "me@example.com"
    assert config.password == "p@ss:w/rd%20"


@pytest.mark.parametrize(
    "url",
    ["http://mail.example.com", "smtp+tls://mail.example.com", "mail.example.com:25", ""],
)
def test_smtp_url_of_another_scheme_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="smtp:// or smtps://"):
        SmtpConfig.from_url(url)


def test_smtp_url_without_a_host_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="host"):
        SmtpConfig.from_url("smtp://:25")


# Settings


def test_settings_refuse_an_smtp_url_of_another_scheme(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="smtp_url"):
        make_settings(smtp_url="http://mail.example.com")


@pytest.mark.parametrize("setting", ["password_reset_url", "verify_email_url", "email_change_url"])
def test_settings_refuse_a_link_template_without_token(
    make_settings: Callable[..., Settings], setting: str
) -> None:
    with pytest.raises(ValidationError, match=r"\{token\}"):
        make_settings(**{setting: "{PUBLIC_APP_URL}/reset-password"})


@pytest.mark.parametrize("setting", ["public_url", "public_app_url"])
@pytest.mark.parametrize(
    "url", ["localhost:3000", "ftp://files.example.com", "javascript:alert(1)"]
)
def test_settings_refuse_a_base_url_that_is_not_http(
    make_settings: Callable[..., Settings], setting: str, url: str
) -> None:
    with pytest.raises(ValidationError, match="absolute http:// or https:// URL"):
        make_settings(**{setting: url})


def test_settings_refuse_a_link_template_that_makes_no_web_link(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="VERIFY_EMAIL_URL must be an absolute http"):
        make_settings(verify_email_url="myapp://verify?token={token}")


def test_settings_refuse_a_template_naming_public_app_url_when_it_is_unset(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match=r"uses \{PUBLIC_APP_URL\}, which is not set"):
        make_settings(password_reset_url="{PUBLIC_APP_URL}/reset?token={token}")


def test_without_a_web_app_the_links_point_at_the_services_own_pages(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(public_url="https://accounts.example.com")

    assert settings.app_link(settings.password_reset_url, "T") == (
        "https://accounts.example.com/pages/reset-password?token=T"
    )
    assert settings.app_link(settings.verify_email_url, "T") == (
        "https://accounts.example.com/pages/verify-email?token=T"
    )
    assert settings.app_link(settings.email_change_url, "T") == (
        "https://accounts.example.com/pages/confirm-email?token=T"
    )


def test_an_empty_public_app_url_means_no_web_app(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(public_app_url="")

    assert settings.public_app_url is None
    assert settings.app_link(settings.verify_email_url, "T").endswith("/pages/verify-email?token=T")


def test_with_a_web_app_the_links_point_at_its_pages(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(public_app_url="https://app.example.com/")

    assert settings.app_link(settings.password_reset_url, "T") == (
        "https://app.example.com/reset-password?token=T"
    )
    assert settings.app_link(settings.verify_email_url, "T") == (
        "https://app.example.com/verify-email?token=T"
    )
    assert settings.app_link(settings.email_change_url, "T") == (
        "https://app.example.com/confirm-email?token=T"
    )


def test_settings_refuse_mail_backend_smtp_without_smtp_url(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="MAIL_BACKEND=smtp needs SMTP_URL"):
        make_settings(mail_backend="smtp")


def test_smtp_url_chooses_the_smtp_backend(make_settings: Callable[..., Settings]) -> None:
    mailer = make_mailer(make_settings(smtp_url="smtp://mail.example.com"))

    assert isinstance(mailer, SmtpMailer)


@pytest.mark.parametrize("environment", ["development", "test"])
def test_without_smtp_url_development_and_test_use_the_console_backend(
    make_settings: Callable[..., Settings], environment: str
) -> None:
    assert isinstance(make_mailer(make_settings(environment=environment)), ConsoleMailer)


def test_without_smtp_url_production_sends_no_mail(
    make_settings: Callable[..., Settings],
) -> None:
    assert isinstance(make_mailer(make_settings(environment="production")), NullMailer)


@pytest.mark.parametrize(("backend", "kind"), [("console", ConsoleMailer), ("none", NullMailer)])
def test_mail_backend_overrides_smtp_url(
    make_settings: Callable[..., Settings], backend: str, kind: type
) -> None:
    settings = make_settings(smtp_url="smtp://mail.example.com", mail_backend=backend)

    assert isinstance(make_mailer(settings), kind)


# Delivery over SMTP


def test_smtp_delivers_the_message_with_from_to_subject_date_and_body(
    smtp_server: MailServer, inbox: Inbox
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    deliver(smtp_server.url(), a_message(body="Hello, Ada.\nThis is a test."))
    after = datetime.now(UTC)

    (message,) = inbox.wait_for(1)
    assert message["From"] == SENDER
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "A subject"
    # In UTC: "-0000" (RFC 5322: UTC, the sender's zone untold) parses as naive.
    sent = parsedate_to_datetime(message["Date"])
    assert before <= (sent if sent.tzinfo else sent.replace(tzinfo=UTC)) <= after
    assert message["Message-ID"]
    assert body_of(message) == "Hello, Ada.\nThis is a test.\n"


def test_smtp_envelope_names_the_sender_and_the_recipient(
    smtp_server: MailServer, inbox: Inbox
) -> None:
    deliver(smtp_server.url(), a_message())

    (delivery,) = inbox.deliveries
    assert delivery.mail_from == "accounts@example.com"
    assert delivery.rcpt_tos == ("ada@example.com",)


def test_smtp_sends_in_clear_to_a_server_that_offers_no_starttls(
    smtp_server: MailServer, inbox: Inbox
) -> None:
    deliver(smtp_server.url(), a_message())

    (delivery,) = inbox.deliveries
    assert delivery.tls is False


def test_smtp_upgrades_to_starttls_when_the_server_offers_it(
    starttls_server: MailServer,
) -> None:
    deliver(starttls_server.url(), a_message())

    (delivery,) = starttls_server.inbox.deliveries
    assert delivery.tls is True


def test_smtp_with_credentials_logs_in_after_starttls_and_delivers(
    authenticating_server: MailServer,
) -> None:
    url = authenticating_server.url(username=SMTP_USER, password=SMTP_PASSWORD)

    deliver(url, a_message())

    (delivery,) = authenticating_server.inbox.deliveries
    assert (delivery.tls, delivery.authenticated) == (True, True)
    assert authenticating_server.authenticator is not None
    (login,) = authenticating_server.authenticator.attempts
    assert (login.username, login.accepted, login.over_tls) == (SMTP_USER, True, True)


def test_smtp_refused_login_delivers_nothing_and_is_a_warning(
    authenticating_server: MailServer, warnings_of_mail: pytest.LogCaptureFixture
) -> None:
    url = authenticating_server.url(username=SMTP_USER, password="not-the-password")

    deliver(url, a_message())

    assert authenticating_server.inbox.deliveries == []
    (warning,) = mail_warnings(warnings_of_mail)
    assert "mail delivery failed (a test message)" in warning
    assert "SMTPAuthenticationError" in warning


def test_smtp_refuses_to_send_credentials_to_a_server_without_starttls(
    cleartext_auth_server: MailServer, warnings_of_mail: pytest.LogCaptureFixture
) -> None:
    url = cleartext_auth_server.url(username=SMTP_USER, password=SMTP_PASSWORD)

    deliver(url, a_message())

    assert cleartext_auth_server.authenticator is not None
    assert cleartext_auth_server.authenticator.attempts == []
    assert cleartext_auth_server.inbox.deliveries == []
    (warning,) = mail_warnings(warnings_of_mail)
    assert "SMTPNotSupportedError" in warning
    assert "STARTTLS" in warning


def test_smtp_refuses_a_starttls_certificate_it_does_not_trust(
    certificate_authority: trustme.CA, warnings_of_mail: pytest.LogCaptureFixture
) -> None:
    # The server's certificate is from the test CA, which SSL_CERT_FILE does not name here.
    server = MailServer(starttls_context=server_tls_context(certificate_authority)).start()
    try:
        deliver(server.url(), a_message())

        assert server.inbox.deliveries == []
    finally:
        server.stop()
    (warning,) = mail_warnings(warnings_of_mail)
    assert "SSLCertVerificationError" in warning


def test_smtps_delivers_over_tls_from_the_first_byte(smtps_server: MailServer) -> None:
    url = smtps_server.url(scheme="smtps", username=SMTP_USER, password=SMTP_PASSWORD)

    deliver(url, a_message())

    (delivery,) = smtps_server.inbox.deliveries
    assert (delivery.tls, delivery.authenticated) == (True, True)
    assert delivery.message["To"] == "ada@example.com"
    assert smtps_server.authenticator is not None
    (login,) = smtps_server.authenticator.attempts
    assert (login.username, login.accepted, login.over_tls) == (SMTP_USER, True, True)


def test_smtps_refuses_a_certificate_it_does_not_trust(
    certificate_authority: trustme.CA, warnings_of_mail: pytest.LogCaptureFixture
) -> None:
    server = MailServer(implicit_tls_context=server_tls_context(certificate_authority)).start()
    try:
        deliver(server.url(scheme="smtps"), a_message())

        assert server.inbox.deliveries == []
    finally:
        server.stop()
    (warning,) = mail_warnings(warnings_of_mail)
    assert "SSLCertVerificationError" in warning


def test_smtp_to_a_closed_port_is_a_warning_not_an_exception(
    warnings_of_mail: pytest.LogCaptureFixture,
) -> None:
    deliver(f"smtp://127.0.0.1:{closed_port()}", a_message())

    (warning,) = mail_warnings(warnings_of_mail)
    assert "mail delivery failed (a test message)" in warning
    assert "ConnectionRefusedError" in warning


def test_a_delivery_failure_logs_the_purpose_but_never_the_content(
    warnings_of_mail: pytest.LogCaptureFixture,
) -> None:
    message = a_message(body="Open http://localhost:3000/reset-password?token=SECRET-TOKEN")

    deliver(f"smtp://127.0.0.1:{closed_port()}", message)

    logged = mail_log(warnings_of_mail)
    assert "a test message" in logged
    assert "SECRET-TOKEN" not in logged
    assert "ada@example.com" not in logged


def test_the_outbox_delivers_every_message_posted_to_it(smtp_server: MailServer) -> None:
    outbox = Outbox(SmtpMailer(SmtpConfig.from_url(smtp_server.url()), sender=SENDER))
    recipients = [f"person{index}@example.com" for index in range(5)]

    for recipient in recipients:
        outbox.post(a_message(to=recipient))
    outbox.shutdown(wait=True)

    assert sorted(message["To"] for message in smtp_server.inbox.messages) == recipients


# The console and none backends


def test_the_console_backend_logs_the_whole_message_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=MAIL_LOGGER)

    ConsoleMailer().send(a_message(body="Open http://localhost:3000/verify-email?token=abc"))

    (record,) = [record for record in caplog.records if record.name == MAIL_LOGGER]
    assert record.levelno == logging.INFO
    text = record.getMessage()
    assert "to=ada@example.com" in text
    assert "subject=A subject" in text
    assert "http://localhost:3000/verify-email?token=abc" in text


def test_the_none_backend_logs_only_the_purpose_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=MAIL_LOGGER)

    NullMailer().send(a_message(body="token=SECRET-TOKEN"))

    (record,) = [record for record in caplog.records if record.name == MAIL_LOGGER]
    assert record.levelno == logging.WARNING
    assert "a test message" in record.getMessage()
    assert "SECRET-TOKEN" not in record.getMessage()
    assert "ada@example.com" not in record.getMessage()


def test_an_app_in_test_without_smtp_url_logs_the_reset_link(
    client: TestClient, user: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=MAIL_LOGGER)

    assert forgot(client, user.email).status_code == 202
    settle(client)

    assert "http://localhost:8000/pages/reset-password?token=" in mail_log(caplog)


def test_an_app_in_production_without_smtp_url_logs_only_the_purpose(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=MAIL_LOGGER)
    app_client = make_client(environment="production")
    account = register(app_client, email="ada@example.com")

    assert forgot(app_client, account.email).status_code == 202
    settle(app_client)

    logged = mail_log(caplog)
    assert "mail not sent (MAIL_BACKEND=none): password reset" in logged
    assert "token=" not in logged
    assert "ada@example.com" not in logged


# The outbox in the app: requests never wait for mail, nor fail with it


def test_mail_from_is_the_sender_of_the_apps_messages(
    make_mail_client: MakeClient, inbox: Inbox
) -> None:
    app_client = make_mail_client(mail_from="Example Accounts <no-reply@example.com>")
    account = register(app_client)

    forgot(app_client, account.email)

    (message,) = inbox.wait_for(1)
    assert message["From"] == "Example Accounts <no-reply@example.com>"
    assert inbox.deliveries[0].mail_from == "no-reply@example.com"


def test_a_request_is_answered_before_the_mail_server_takes_its_message(
    stalled_server: MailServer, make_client: MakeClient
) -> None:
    app_client = make_client(smtp_url=stalled_server.url())
    account = register(app_client)
    handler = stalled(stalled_server)

    response = forgot(app_client, account.email)

    # Answered while the server holds the message at DATA, and it holds it until released.
    assert response.status_code == 202
    assert handler.reached.wait(10), "the message never reached the mail server"
    assert stalled_server.inbox.deliveries == []
    handler.release()
    (message,) = stalled_server.inbox.wait_for(1)
    assert message["Subject"] == RESET_SUBJECT


def test_a_verification_request_is_answered_before_the_mail_server_takes_its_message(
    stalled_server: MailServer, make_client: MakeClient
) -> None:
    app_client = make_client(smtp_url=stalled_server.url())
    account = register(app_client)
    handler = stalled(stalled_server)

    response = request_verification(app_client, account.access_token)

    assert response.status_code == 202
    assert handler.reached.wait(10), "the message never reached the mail server"
    assert stalled_server.inbox.deliveries == []
    handler.release()
    (message,) = stalled_server.inbox.wait_for(1)
    assert message["To"] == account.email


def test_the_apps_shutdown_waits_for_the_messages_handed_to_its_outbox(
    stalled_server: MailServer, make_client: MakeClient
) -> None:
    app_client = make_client(smtp_url=stalled_server.url())
    account = register(app_client)
    handler = stalled(stalled_server)
    assert forgot(app_client, account.email).status_code == 202

    def release_once_held() -> None:
        handler.reached.wait(10)
        handler.release()

    releaser = threading.Thread(target=release_once_held)
    releaser.start()
    settle(app_client)
    releaser.join()

    assert [message["To"] for message in stalled_server.inbox.messages] == [account.email]


def test_an_unreachable_mail_server_changes_no_answer(
    make_client: MakeClient, warnings_of_mail: pytest.LogCaptureFixture
) -> None:
    app_client = make_client(smtp_url=f"smtp://127.0.0.1:{closed_port()}")
    account = register(app_client)

    assert forgot(app_client, account.email).json() == {"status": "accepted"}
    assert forgot(app_client, "nobody@example.com").json() == {"status": "accepted"}
    assert request_verification(app_client, account.access_token).status_code == 202
    settle(app_client)

    warnings = mail_warnings(warnings_of_mail)
    assert any("(password reset)" in warning for warning in warnings), warnings
    assert any("(email verification)" in warning for warning in warnings), warnings


def test_a_refused_smtp_login_changes_no_answer(
    authenticating_server: MailServer,
    make_client: MakeClient,
    warnings_of_mail: pytest.LogCaptureFixture,
) -> None:
    url = authenticating_server.url(username=SMTP_USER, password="not-the-password")
    app_client = make_client(smtp_url=url)
    account = register(app_client)

    response = forgot(app_client, account.email)
    settle(app_client)

    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    assert authenticating_server.inbox.deliveries == []
    assert any("SMTPAuthenticationError" in warning for warning in mail_warnings(warnings_of_mail))


def test_the_app_mails_through_starttls_with_credentials(
    authenticating_server: MailServer, make_client: MakeClient
) -> None:
    url = authenticating_server.url(username=SMTP_USER, password=SMTP_PASSWORD)
    app_client = make_client(smtp_url=url)
    account = register(app_client)

    forgot(app_client, account.email)

    message = authenticating_server.inbox.wait_for_message(to=account.email, subject=RESET_SUBJECT)
    assert token_in(message)


# Notices of changes to an account


def test_changing_ones_password_mails_a_notice_to_the_address(
    mail_client: TestClient, inbox: Inbox
) -> None:
    account = register(mail_client)

    response = mail_client.post(
        "/users/me/password",
        headers=account.headers,
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 204, response.text
    notice = inbox.wait_for_message(to=account.email, subject=PASSWORD_CHANGED_SUBJECT)
    assert "changed by someone signed in to it" in body_of(notice)
    assert "token=" not in body_of(notice)


def test_setting_ones_password_through_the_user_route_mails_a_notice(
    mail_client: TestClient, inbox: Inbox
) -> None:
    account = register(mail_client)

    response = mail_client.patch(
        f"/users/{account.id}",
        headers=account.headers,
        json={"password": NEW_PASSWORD, "current_password": STRONG_PASSWORD},
    )

    assert response.status_code == 200, response.text
    notice = inbox.wait_for_message(to=account.email, subject=PASSWORD_CHANGED_SUBJECT)
    assert "someone signed in to it" in body_of(notice)


def test_a_superuser_setting_a_users_password_notifies_that_user(
    mail_client: TestClient, inbox: Inbox, db_engine: Engine
) -> None:
    admin = promote(mail_client, db_engine, register(mail_client, email="root@example.com"))
    account = register(mail_client, email="ada@example.com", password=OTHER_PASSWORD)

    response = mail_client.patch(
        f"/users/{account.id}", headers=admin.headers, json={"password": NEW_PASSWORD}
    )

    assert response.status_code == 200, response.text
    notice = inbox.wait_for_message(to="ada@example.com", subject=PASSWORD_CHANGED_SUBJECT)
    assert "changed by an administrator" in body_of(notice)
    settle(mail_client)
    assert inbox.to("root@example.com") == []


def test_a_refused_password_change_mails_nothing(mail_client: TestClient, inbox: Inbox) -> None:
    account = register(mail_client)

    response = mail_client.post(
        "/users/me/password",
        headers=account.headers,
        json={"current_password": "not-the-password-1", "new_password": NEW_PASSWORD},
    )
    settle(mail_client)

    assert response.status_code == 403
    assert inbox.messages == []


def test_confirming_ones_new_email_notifies_the_old_address_naming_the_new(
    mail_client: TestClient, inbox: Inbox
) -> None:
    account = register(mail_client, email="ada@example.com")

    change_email_confirmed(mail_client, inbox, account, "ada@lovelace.example")

    notice = inbox.wait_for_message(to="ada@example.com", subject=EMAIL_CHANGED_SUBJECT)
    assert "was changed to ada@lovelace.example by someone signed in to it" in body_of(notice)
    assert "confirmed with the link sent to the new address" in body_of(notice)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_a_superuser_changing_a_users_email_notifies_the_old_address(
    mail_client: TestClient, inbox: Inbox, db_engine: Engine, method: str
) -> None:
    admin = promote(mail_client, db_engine, register(mail_client, email="root@example.com"))
    account = register(mail_client, email="ada@example.com", password=OTHER_PASSWORD)

    response = mail_client.request(
        method,
        f"/users/{account.id}",
        headers=admin.headers,
        json={"email": "ada@lovelace.example"},
    )

    assert response.status_code == 200, response.text
    notice = inbox.wait_for_message(to="ada@example.com", subject=EMAIL_CHANGED_SUBJECT)
    assert "was changed to ada@lovelace.example by an administrator" in body_of(notice)


def test_changing_only_the_name_mails_nothing(mail_client: TestClient, inbox: Inbox) -> None:
    account = register(mail_client)

    response = mail_client.patch("/users/me", headers=account.headers, json={"full_name": "Ada"})
    settle(mail_client)

    assert response.status_code == 200
    assert inbox.messages == []


def test_a_notice_says_who_asked_and_when(mail_client: TestClient, inbox: Inbox) -> None:
    account = register(mail_client)

    mail_client.post(
        "/users/me/password",
        headers={**account.headers, "User-Agent": "AdaBrowser/1.0"},
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )

    notice = inbox.wait_for_message(to=account.email, subject=PASSWORD_CHANGED_SUBJECT)
    assert "UTC, from testclient (AdaBrowser/1.0)" in body_of(notice)
