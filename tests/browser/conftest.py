"""Headless Chromium for dashboard tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download is not used: the tests launch the system Chromium by path
(``make test`` installs it with apt when it is missing). Without it, or without Playwright, the
tests are skipped with the reason.
"""

import shutil
from pathlib import Path

import pytest


CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium", "chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found:
            return found
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def browser_page(tmp_path):
    """A fresh headless Chromium page (its own profile directory), closed after the test."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium not found (looked for /usr/bin/chromium); `make test` installs it with apt")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"), executable_path=executable,
            headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1440, "height": 900},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
