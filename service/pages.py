"""The pages the mailed links open when no web app is configured: HTML for a
person, the one documented exception to the JSON error envelope.

Templates are service/templates/ (Jinja2, every value escaped); the one
stylesheet is service/static/pages.css. No page has a script: each is a form
that posts to this service. Statuses and headers of problems come from
errors.PROBLEMS, so a page answers as the API would; only the words differ.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from python_multipart.exceptions import FormParserError
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from service import links
from service.config import serving_settings
from service.errors import PROBLEMS, KeepPlaceholders
from service.passwords import password_rules
from service.problems import DomainError, Problem

_HERE = Path(__file__).parent
_TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)
STYLESHEET = (_HERE / "static" / "pages.css").read_bytes()
# The tokens account_tokens.py makes (43 URL-safe characters), with room;
# anything else is not a link of ours and never reaches the database.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_FORM_TYPE = "application/x-www-form-urlencoded"
# A page's form has at most four fields; a few more cost nothing.
_MAX_FIELDS = 16
_PASSWORDS_DIFFER = "The two passwords are not the same: type the new password twice"


@dataclass(frozen=True)
class Words:
    title: str
    paragraphs: tuple[str, ...]


_LINK_NO_LONGER_WORKS = "It has expired, has been used already, or a newer link replaced it."
_NEXT_STEP = {
    links.RESET_PAGE: "Ask for a new password reset link; it comes by mail.",
    links.VERIFY_PAGE: "Sign in and ask for a new confirmation link.",
    links.EMAIL_CHANGE_PAGE: "Sign in and ask for the change of address again.",
}
_PROBLEM_WORDS = {
    Problem.ACCOUNT_TOKEN_INVALID: Words("This link no longer works", (_LINK_NO_LONGER_WORKS,)),
    Problem.EMAIL_TAKEN: Words(
        "This address is taken",
        (
            "Another account has taken this address since the change was asked for, "
            "so nothing changed. The link still works if the address becomes free.",
        ),
    ),
    Problem.RATE_LIMITED: Words(
        "Too many attempts", ("Wait {retry_after} seconds, then open the link again.",)
    ),
    Problem.REQUEST_TOO_LARGE: Words(
        "The form was too large", ("Open the link from the message again.",)
    ),
    Problem.BAD_REQUEST: Words(
        "The form could not be read", ("Open the link from the message again.",)
    ),
}
DONE = {
    "reset": Words(
        "Your password is changed",
        (
            "Sign in with the new password.",
            "Every session was signed out, on every device.",
        ),
    ),
    "verified": Words("Your email address is confirmed", ("Thank you: {email} is confirmed.",)),
    "moved": Words(
        "Your email address is changed",
        ("Your account is now at {email}. Sign in with it from now on.",),
    ),
}


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: object,
) -> HTMLResponse:
    return _TEMPLATES.TemplateResponse(
        request, template, context, status_code=status, headers=headers
    )


def message_page(
    request: Request,
    words: Words,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: object,
) -> HTMLResponse:
    """A page that only tells something: an outcome, or a problem (any status >= 400)."""
    paragraphs = [text.format_map(KeepPlaceholders(values)) for text in words.paragraphs]
    return render(
        request,
        "message.html",
        status=status,
        headers=headers,
        title=words.title,
        paragraphs=paragraphs,
        alert=status >= 400,
    )


def problem_page(request: Request, error: DomainError) -> HTMLResponse:
    """`error` told to a person, with the status and headers the API gives it."""
    spec = PROBLEMS[error.problem]
    words = _PROBLEM_WORDS.get(error.problem, Words("Something went wrong", (spec.message,)))
    if error.problem is Problem.ACCOUNT_TOKEN_INVALID:
        route = request.scope.get("route")
        next_step = _NEXT_STEP.get(getattr(route, "path", ""), "")
        words = Words(words.title, (*words.paragraphs, next_step))
    params = KeepPlaceholders(error.params)
    headers = {name: value.format_map(params) for name, value in spec.headers}
    return message_page(request, words, status=spec.status, headers=headers, **error.params)


class PageRoute(APIRoute):
    """A page's route: whatever problem stops it is answered as a page, never in JSON."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as error:
                return problem_page(request, error)

        return answer


def usable_token(value: str | None) -> str:
    """The token of a link, or ACCOUNT_TOKEN_INVALID: a value no link of ours
    carries (too long, NUL bytes, not text) is refused before any SQL."""
    if value is None or not _TOKEN_SHAPE.fullmatch(value):
        raise DomainError(Problem.ACCOUNT_TOKEN_INVALID)
    return value


async def read_form(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The named fields of a page's form (the first of each, "" when absent).

    Read here rather than by FastAPI's Form(), whose failures answer in JSON:
    a form that is not urlencoded, cannot be parsed or is too large is a page.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise DomainError(Problem.BAD_REQUEST)
    try:
        form = await request.form(max_fields=_MAX_FIELDS, max_files=0)
    except HTTPException as exc:
        too_large = exc.status_code == 413
        raise DomainError(Problem.REQUEST_TOO_LARGE if too_large else Problem.BAD_REQUEST) from None
    except (MultiPartException, FormParserError):
        raise DomainError(Problem.BAD_REQUEST) from None
    fields = {}
    for name in names:
        values = [value for value in form.getlist(name) if isinstance(value, str)]
        fields[name] = values[0] if values else ""
    return fields


def reset_form(request: Request, *, token: str, email: str, problems: list[str]) -> HTMLResponse:
    """The form for a new password; with `problems`, each one is said (422)."""
    return render(
        request,
        "reset_form.html",
        status=422 if problems else 200,
        title="Choose a new password",
        token=token,
        email=email,
        rules=password_rules(min_length=serving_settings().password_min_length),
        problems=problems,
    )


def confirmation_problems(form: dict[str, str]) -> list[str]:
    """What is wrong with the two passwords as typed, before the rules are asked."""
    return [] if form["new_password"] == form["confirm_password"] else [_PASSWORDS_DIFFER]


def confirm_page(request: Request, *, token: str, email: str, moving: bool) -> HTMLResponse:
    """The button that uses a verification (or, `moving`, an email change) link."""
    if moving:
        title, question, button = (
            "Confirm your new email address",
            "Press the button to move your account to",
            "Move my account to this address",
        )
    else:
        title, question, button = (
            "Confirm your email address",
            "Press the button to confirm that this address is yours:",
            "Confirm my address",
        )
    action = links.EMAIL_CHANGE_PAGE if moving else links.VERIFY_PAGE
    return render(
        request,
        "confirm.html",
        title=title,
        question=question,
        button=button,
        action=action.rsplit("/", 1)[-1],
        token=token,
        email=email,
    )
