"""Reading the service's own pages in tests: what a screen reader and a
browser without scripts rely on, taken from the HTML as sent."""

from dataclasses import dataclass
from html.parser import HTMLParser

import httpx

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
RESET_PAGE = "/pages/reset-password"
VERIFY_PAGE = "/pages/verify-email"
EMAIL_CHANGE_PAGE = "/pages/confirm-email"
NO_LONGER_WORKS = "This link no longer works"


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


class Page(HTMLParser):
    """Every element with its attributes, and the text inside each `role=alert`."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self.alerts: list[str] = []
        self._open_alert = 0
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.elements.append(Element(tag, values))
        if tag in ("input", "meta", "link", "br"):
            return
        self._depth += 1
        if values.get("role") == "alert" and not self._open_alert:
            self._open_alert = self._depth
            self.alerts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("input", "meta", "link", "br"):
            return
        if self._open_alert == self._depth:
            self._open_alert = 0
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self.elements:
            self.elements[-1].text += data
        if self._open_alert:
            self.alerts[-1] += data

    def all(self, tag: str) -> list[Element]:
        return [element for element in self.elements if element.tag == tag]

    def by_id(self, element_id: str) -> Element | None:
        return next((e for e in self.elements if e.attrs.get("id") == element_id), None)

    def title(self) -> str:
        (heading,) = self.all("h1")
        return heading.text.strip()

    def field(self, name: str) -> Element:
        (found,) = [e for e in self.all("input") if e.attrs.get("name") == name]
        return found


def page_of(response: httpx.Response) -> Page:
    """The response as a page: HTML, never the JSON envelope."""
    assert response.headers["content-type"] == "text/html; charset=utf-8", response.text
    page = Page()
    page.feed(response.text)
    return page


def alert_text(response: httpx.Response) -> str:
    return " ".join(" ".join(alert.split()) for alert in page_of(response).alerts)
