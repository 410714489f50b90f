"""390 px wide (a phone): the home page, the queue and the dossier are usable (issue 18,
item 8): nothing wider than the screen but the tables, which scroll inside their DSFR
wrapper; the menu opens from its button."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.browser

WIDTH = 390


def _overflowing(page) -> list[str]:
    """Elements sticking out of the screen, outside a scrolling table wrapper (the DSFR header
    places its menu button with a negative margin: the page width is checked apart)."""
    return page.evaluate("""(width) => [...document.querySelectorAll('body *')]
        .filter(e => !e.closest('.fr-table__container, .fr-modal, .fr-header, .fr-skiplinks'))
        .filter(e => { const r = e.getBoundingClientRect();
                       return r.width > 0 && r.right > width + 1; })
        .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                  + (e.className && typeof e.className === 'string'
                     ? '.' + e.className.trim().split(/\\s+/).join('.') : ''))
        .slice(0, 10)""", WIDTH)


def test_home_queue_and_dossier_fit_a_phone(browser, live_server) -> None:
    context = browser.new_context(base_url=live_server.url, locale="fr-FR",
                                  viewport={"width": WIDTH, "height": 844})
    page = context.new_page()
    try:
        login(page, live_server.account("verificateur"))
        assert _overflowing(page) == [], "accueil"
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        page.get_by_role("button", name="Menu").click()
        expect(page.get_by_role("navigation", name="Menu principal")).to_be_visible()
        page.goto("/instruction/file")
        assert _overflowing(page) == [], "file"
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        screenshot(page, "mobile-file")
        first = page.locator("#table-file tbody a").first
        expect(first).to_be_visible()
        first.click()
        page.wait_for_load_state("load")
        assert "/instruction/candidatures/" in page.url
        assert _overflowing(page) == [], "dossier"
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        screenshot(page, "mobile-dossier")
    finally:
        context.close()
