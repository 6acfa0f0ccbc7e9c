"""Debian's Chromium, headless, driven by Selenium (with Debian's chromium-driver): the real
browser the page tests (the label page, the live page) run in.

`MISSING` says why there is no browser here (None when both programs are installed); `chromium`
opens one with a fresh profile and always quits it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = None if CHROMIUM and CHROMEDRIVER else "needs Debian's chromium and chromium-driver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
)


@contextmanager
def chromium(profile: Path, window: str = "1280,860") -> Iterator:
    """A headless Chromium (a Selenium WebDriver) with its profile in `profile` and a `window`
    of "WIDTH,HEIGHT"."""
    from selenium import webdriver  # the dev extra: only the browser tests need it

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={window}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER, log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
