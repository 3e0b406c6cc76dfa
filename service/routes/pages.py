"""The pages the mailed links open when no web app is configured (see
service/pages.py). Opening a link (GET) only looks at its token; the token is
spent by the form the page posts, so a mail scanner that follows the link
uses nothing up. Not in the OpenAPI document: these answer a person, in HTML."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from service import links, pages
from service.deps import EmailChangesDep, RecoveryDep, RequesterDep
from service.pages import DONE, PageRoute
from service.problems import DomainError, Problem

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LinkToken = Annotated[str, Query()]
_RESET_FIELDS = ("token", "new_password", "confirm_password")


def _no_longer_works() -> DomainError:
    return DomainError(Problem.ACCOUNT_TOKEN_INVALID)


@router.get(links.STYLESHEET)
async def stylesheet() -> Response:
    return Response(pages.STYLESHEET, media_type="text/css")


@router.get(links.RESET_PAGE, response_class=HTMLResponse)
async def reset_form(request: Request, recovery: RecoveryDep, token: LinkToken = "") -> Response:
    email = await recovery.reset_link_email(token=pages.usable_token(token))
    if email is None:
        raise _no_longer_works()
    return pages.reset_form(request, token=token, email=email, problems=[])


@router.post(links.RESET_PAGE, response_class=HTMLResponse)
async def reset_password(
    request: Request, recovery: RecoveryDep, requester: RequesterDep
) -> Response:
    form = await pages.read_form(request, _RESET_FIELDS)
    token = pages.usable_token(form["token"])
    # Looked at first, so a spent link says so, not that the passwords differ.
    email = await recovery.reset_link_email(token=token)
    if email is None:
        raise _no_longer_works()
    problems = pages.confirmation_problems(form)
    if not problems:
        try:
            await recovery.reset_password(
                token=token, new_password=form["new_password"], requester=requester
            )
            return pages.message_page(request, DONE["reset"])
        except DomainError as error:
            if error.problem is not Problem.WEAK_PASSWORD:
                raise
            problems = list(error.messages)
    return pages.reset_form(request, token=token, email=email, problems=problems)


@router.get(links.VERIFY_PAGE, response_class=HTMLResponse)
async def verify_page(request: Request, recovery: RecoveryDep, token: LinkToken = "") -> Response:
    email = await recovery.verification_link_email(token=pages.usable_token(token))
    if email is None:
        raise _no_longer_works()
    return pages.confirm_page(request, token=token, email=email, moving=False)


@router.post(links.VERIFY_PAGE, response_class=HTMLResponse)
async def verify_email(
    request: Request, recovery: RecoveryDep, requester: RequesterDep
) -> Response:
    form = await pages.read_form(request, ("token",))
    user = await recovery.verify_email(token=pages.usable_token(form["token"]), requester=requester)
    return pages.message_page(request, DONE["verified"], email=user.email)


@router.get(links.EMAIL_CHANGE_PAGE, response_class=HTMLResponse)
async def email_change_page(
    request: Request, email_changes: EmailChangesDep, token: LinkToken = ""
) -> Response:
    email = await email_changes.link_email(token=pages.usable_token(token))
    if email is None:
        raise _no_longer_works()
    return pages.confirm_page(request, token=token, email=email, moving=True)


@router.post(links.EMAIL_CHANGE_PAGE, response_class=HTMLResponse)
async def confirm_email_change(
    request: Request, email_changes: EmailChangesDep, requester: RequesterDep
) -> Response:
    form = await pages.read_form(request, ("token",))
    token = pages.usable_token(form["token"])
    user = await email_changes.confirm(token=token, requester=requester)
    return pages.message_page(request, DONE["moved"], email=user.email)
