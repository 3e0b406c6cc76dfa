"""The browser harness itself: Debian's Chromium loads a page of a second
origin and runs its script. If this fails, every browser test would."""

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser import StaticSite

pytestmark = pytest.mark.sqlite_only

SITE = Path(__file__).parent / "browser_site"


def test_chromium_runs_a_script_of_a_page_served_by_the_static_site(page: Page) -> None:
    with StaticSite(SITE) as site:
        page.goto(f"{site.url()}/harness.html")
        assert page.text_content("#out") == f"ran from {site.url()}"
