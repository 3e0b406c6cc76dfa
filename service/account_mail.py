"""What the service writes to its users: recovery, verification and email
change links, and notices of changes to an account. Delivery is
service/outbox.py's."""

import unicodedata

from service.config import Settings
from service.devices import device_name
from service.outbox import Message, Outbox
from service.requester import Requester

USER_AGENT_LIMIT = 200


def describe(requester: Requester) -> str:
    at = requester.at
    ip = requester.ip or "an unknown address"
    agent = _printable(requester.user_agent or "")[:USER_AGENT_LIMIT] or "an unknown browser"
    return f"on {at:%Y-%m-%d} at {at:%H:%M} UTC, from {ip} ({agent})"


def _printable(text: str) -> str:
    # A header of the client's choosing must not add lines to a message.
    return "".join(char for char in text if not unicodedata.category(char).startswith("C"))


_IF_NOT_YOU = (
    "If this was not you, reset your password at once and sign out everywhere: "
    "someone else may know it."
)


class AccountMail:
    """Builds each message and hands it to the outbox; never waits for delivery."""

    def __init__(self, *, outbox: Outbox, settings: Settings) -> None:
        self.outbox = outbox
        self.settings = settings

    def password_reset(self, *, to: str, token: str, requester: Requester) -> None:
        link = self.settings.app_link(self.settings.password_reset_url, token)
        minutes = self.settings.reset_token_expire_minutes
        self._post(
            to,
            "Reset your password",
            f"Someone asked to reset the password of the account {to},\n"
            f"{describe(requester)}.\n\n"
            f"To choose a new password, open this link within {minutes} minutes:\n\n"
            f"{link}\n\n"
            "The link works once. Setting a new password signs you out everywhere.\n"
            "If you did not ask for this, ignore this message: your password stays as it is.",
            purpose="password reset",
        )

    def verification(self, *, to: str, token: str, requester: Requester) -> None:
        link = self.settings.app_link(self.settings.verify_email_url, token)
        hours = self.settings.verify_token_expire_minutes / 60
        self._post(
            to,
            "Confirm your email address",
            f"Someone asked to confirm that {to} belongs to the account it is on,\n"
            f"{describe(requester)}.\n\n"
            f"To confirm it, open this link within {hours:g} hours:\n\n"
            f"{link}\n\n"
            "If you did not ask for this, ignore this message.",
            purpose="email verification",
        )

    def email_change(self, *, old: str, new: str, token: str, requester: Requester) -> None:
        """The link that moves the account at `old` to `new`, mailed to `new`."""
        link = self.settings.app_link(self.settings.email_change_url, token)
        hours = self.settings.verify_token_expire_minutes / 60
        self._post(
            new,
            "Confirm your new email address",
            f"Someone signed in to the account {old} asked to change its email address\n"
            f"to {new}, {describe(requester)}.\n\n"
            f"To confirm that this address is yours and make the change, open this link "
            f"within {hours:g} hours:\n\n{link}\n\n"
            "The link works once. Until it is opened, the account keeps its current address.\n"
            "If you did not ask for this, ignore this message: nothing changes.",
            purpose="email change confirmation",
        )

    def email_change_requested(self, *, old: str, new: str, requester: Requester) -> None:
        """The notice to the account's address that a move away from it was asked."""
        if not self.settings.notify_email_change:
            return
        self._post(
            old,
            "A change of your account's email address was asked",
            f"Someone signed in to the account {old} asked to change its email address\n"
            f"to {new}, {describe(requester)}.\n\n"
            f"Nothing changes until the link sent to {new} is opened; until then this\n"
            "address keeps working.\n\n"
            "If this was not you, change your password at once and sign out everywhere: "
            "someone else knows it. Changing the password also cancels the change.",
            purpose="email change request notice",
        )

    def password_changed(self, *, to: str, requester: Requester, by_admin: bool) -> None:
        if not self.settings.notify_password_change:
            return
        who = "an administrator" if by_admin else "someone signed in to it"
        self._post(
            to,
            "Your password was changed",
            f"The password of the account {to} was changed by {who},\n"
            f"{describe(requester)}.\n\n{_IF_NOT_YOU}",
            purpose="password change notice",
        )

    def password_was_reset(self, *, to: str, requester: Requester) -> None:
        if not self.settings.notify_password_change:
            return
        self._post(
            to,
            "Your password was reset",
            f"The password of the account {to} was reset with a link sent to this address,\n"
            f"{describe(requester)}. Every session was signed out.\n\n{_IF_NOT_YOU}",
            purpose="password reset notice",
        )

    def email_changed(self, *, old: str, new: str, requester: Requester, by_admin: bool) -> None:
        if not self.settings.notify_email_change:
            return
        # An owner's own change happens only once the new address confirms it.
        who = (
            "an administrator"
            if by_admin
            else "someone signed in to it, confirmed with the link sent to the new address"
        )
        self._post(
            old,
            "Your account's email address was changed",
            f"The email address of the account {old} was changed to {new} by {who},\n"
            f"{describe(requester)}. Messages about the account now go there.\n\n"
            "If this was not you, contact support at once: password resets now go to the "
            "new address.",
            purpose="email change notice",
        )

    def new_login(self, *, to: str, requester: Requester) -> None:
        if not self.settings.notify_new_login:
            return
        days = self.settings.new_login_memory_days
        self._post(
            to,
            "New sign-in to your account",
            f"The account {to} was signed in to from {device_name(requester.user_agent)},\n"
            f"{describe(requester)}. No sign-in came from that device and address in the\n"
            f"last {days} days.\n\n"
            "If this was you, there is nothing to do. If not, change your password at once "
            "and end the sessions you do not know (GET /users/me/sessions).",
            purpose="new sign-in notice",
        )

    def token_reuse(self, *, to: str, device: str, requester: Requester) -> None:
        if not self.settings.notify_token_reuse:
            return
        self._post(
            to,
            "We signed a device out of your account",
            f"A sign-in of the account {to} on {device} presented a token that had\n"
            f"already been used, {describe(requester)}. That can mean someone copied it,\n"
            "so we signed that device out. Signing in again there is safe.\n\n"
            f"{_IF_NOT_YOU}",
            purpose="token reuse notice",
        )

    def session_ended(self, *, to: str, device: str | None, requester: Requester) -> None:
        """An administrator ended one session of the account (`device`), or all (None)."""
        if not self.settings.notify_session_ended:
            return
        what = f"the session on {device}" if device else "every session"
        self._post(
            to,
            "An administrator signed you out",
            f"An administrator ended {what} of the account {to},\n"
            f"{describe(requester)}. Sign in again where you need to.\n\n"
            "If you did not expect this, contact support.",
            purpose="session ended notice",
        )

    def _post(self, to: str, subject: str, body: str, *, purpose: str) -> None:
        self.outbox.post(Message(to=to, subject=subject, body=body, purpose=purpose))
