"""Where the mailed links point: the web app's pages when one is configured
(PUBLIC_APP_URL), else the small pages this service serves itself, under
PUBLIC_URL. The one place the pages' paths are written: the page routes and
the default link templates both read them from here."""

from urllib.parse import urlsplit

# The service's own pages (service/routes/pages.py).
PAGES_PREFIX = "/pages"
RESET_PAGE = f"{PAGES_PREFIX}/reset-password"
VERIFY_PAGE = f"{PAGES_PREFIX}/verify-email"
EMAIL_CHANGE_PAGE = f"{PAGES_PREFIX}/confirm-email"
STYLESHEET = f"{PAGES_PREFIX}/pages.css"
PAGE_PATHS = frozenset({RESET_PAGE, VERIFY_PAGE, EMAIL_CHANGE_PAGE, STYLESHEET})

# A link template's setting, the web app's page, and the service's own.
_PAGES = {
    "password_reset_url": ("/reset-password", RESET_PAGE),
    "verify_email_url": ("/verify-email", VERIFY_PAGE),
    "email_change_url": ("/confirm-email", EMAIL_CHANGE_PAGE),
}
LINK_SETTINGS = tuple(_PAGES)
# Stands in for a token when a template is checked.
_SAMPLE = "sample"


def default_template(setting: str, *, app_configured: bool) -> str:
    """The link template `setting` has when it is not set."""
    app_page, own_page = _PAGES[setting]
    if app_configured:
        return "{PUBLIC_APP_URL}" + app_page + "?token={token}"
    return "{PUBLIC_URL}" + own_page + "?token={token}"


def resolve(
    templates: dict[str, str | None], *, public_url: str, app_url: str | None
) -> dict[str, str]:
    """Each link setting's template, its default where unset; ValueError for
    one that does not make an http(s) link."""
    resolved = {}
    for setting, given in templates.items():
        template = given or default_template(setting, app_configured=app_url is not None)
        if "{PUBLIC_APP_URL}" in template and app_url is None:
            raise ValueError(f"{setting.upper()} uses {{PUBLIC_APP_URL}}, which is not set")
        link = fill(template, _SAMPLE, public_url, app_url)
        try:
            require_web_url(link)
        except ValueError as exc:
            raise ValueError(f"{setting.upper()} {exc}") from None
        resolved[setting] = template
    return resolved


def fill(template: str, token: str, public_url: str, public_app_url: str | None) -> str:
    link = template.replace("{PUBLIC_URL}", public_url.rstrip("/"))
    if public_app_url is not None:
        link = link.replace("{PUBLIC_APP_URL}", public_app_url.rstrip("/"))
    return link.replace("{token}", token)


def require_web_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL a mail reader can open; else ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    return url
