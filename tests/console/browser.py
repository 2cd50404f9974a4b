"""A real browser for the console's end-to-end tests: Debian's headless Chromium driven by
Selenium, pointed at the system's binaries (nothing downloads a browser at run time;
``./scripts/test`` installs ``chromium`` and ``chromium-driver`` when they are missing)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)


def _first(paths: tuple[str, ...], name: str) -> str:
    for path in paths:
        if Path(path).exists():
            return path
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(
        f"{name} is not installed: run ./scripts/test (it installs Debian's chromium and "
        "chromium-driver) or apt-get install -y chromium chromium-driver"
    )


def chromium() -> WebDriver:
    """Headless Chromium (flags from FACTS.md: runs as root in these sandboxes)."""
    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM, "chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--lang=en-US",
    ):
        options.add_argument(flag)
    service = Service(executable_path=_first(DRIVER, "chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    return driver


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``check`` until it holds (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def screenshot(driver: WebDriver, name: str) -> Path:
    """A full-page PNG in ``$ROSTER_SCREENSHOTS`` (the README's are taken this way) or a
    temporary folder."""
    folder = Path(os.environ.get("ROSTER_SCREENSHOTS") or "/tmp/roster-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(max(height, 900), 4000))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path
