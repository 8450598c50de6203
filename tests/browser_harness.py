"""A real headless Chromium (Debian's `chromium`) driven by Playwright, for the report and dashboard tests.

Playwright drives the system browser through its executable path; no browser is downloaded.
Screenshots go to $PLANNER_TEST_ARTIFACTS (default `test-artifacts/`, ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("PLANNER_TEST_ARTIFACTS") or Path(__file__).parent.parent / "test-artifacts")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# sandbox refuses; --no-sandbox because CI runs the tests as root.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def require_chromium() -> None:
    """Skip the calling test module without the browser, unless CI demands it."""
    if CHROMIUM is None and os.environ.get("PLANNER_REQUIRE_CHROMIUM") != "1":
        pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@contextmanager
def page() -> Iterator[tuple[Any, list[str]]]:
    """A fresh page, and the console errors and page errors it reports as they come."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "chromium is not installed"
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            yield tab, errors
        finally:
            browser.close()


def screenshot(tab: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path
