"""The web page in a real headless Chromium (Debian's chromium + chromium-driver, ops/chromium.sh),
driven by Selenium, against `stackledger serve` with the real Keystone.

The team lead of payments logs in through the form, opens My budgets and a project, downloads
the project's PDF, and the figures on the screen are the PDF's (pdftotext). A project named
`<script>alert(1)</script>` shows as text and runs nothing. Screenshots are kept under
out/test-artifacts/api-browser/ (git-ignored).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stackledger.settings import Settings
from tests import api_support as api

pytestmark = pytest.mark.services

MONTH = "2026-11"
XSS_ID = "xss-0000000000000000000000000000002"
XSS_NAME = "<script>alert(1)</script>"
SHOTS = api.ARTIFACTS / "api-browser"
PROJECTS = [
    api.SeedProject("payments", "payments", Decimal("650"), Decimal("17.123457")),
    api.SeedProject(XSS_NAME, "payments", Decimal("100"), Decimal("1.5")),
    api.SeedProject("search-api", "search", Decimal("400"), Decimal("9.5")),
]


@pytest.fixture(scope="module")
def ids() -> dict[str, str]:
    return {**api.keystone_projects(), XSS_NAME: XSS_ID}


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory, ids: dict[str, str]) -> Iterator[api.Server]:
    out = tmp_path_factory.mktemp("api-browser")
    settings: Settings = api.fresh_settings(pg_url, out)
    api.seed_costs(settings, ids, PROJECTS, ["2026-10", MONTH], days=12)
    with api.serving({**api.server_env(settings, out), **api.keystone_env()}, out / "serve.log") as server:
        yield server


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium / chromedriver not found: run `ops/chromium.sh install`", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def test_team_lead_reads_budgets_and_a_project_and_the_pdf_agrees(
    server: api.Server, browser: Any, ids: dict[str, str]
) -> None:
    from selenium.webdriver.common.by import By

    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(f"{server.url}/budgets?month={MONTH}")
    assert "/login" in browser.current_url  # no session: the login page, coming back here afterwards
    browser.find_element(By.NAME, "username").send_keys("lead-payments")
    browser.find_element(By.NAME, "password").send_keys(api.user_auth("lead-payments")["password"])
    browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    wait_for(lambda: "/budgets" in browser.current_url and "My budgets" in browser.page_source)
    browser.save_screenshot(str(SHOTS / "1-my-budgets.png"))
    rows = {row.get_attribute("data-project") for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-project]")}
    assert rows == {ids["payments"], XSS_ID}
    no_script_ran(browser)
    xss_link = browser.find_element(By.CSS_SELECTOR, f'tr[data-project="{XSS_ID}"] a.name')
    assert xss_link.text == XSS_NAME  # shown as text

    browser.find_element(By.CSS_SELECTOR, f'tr[data-project="{ids["payments"]}"] a.name').click()
    wait_for(lambda: "/projects/" in browser.current_url and "Services" in browser.page_source)
    browser.save_screenshot(str(SHOTS / "2-project.png"))
    screen = figures_on_screen(browser)
    browser.find_element(By.LINK_TEXT, "PDF report").click()
    pdf = wait_for(lambda: next(iter(browser.downloads.glob("*.pdf")), None))
    text = pdf_text(pdf)
    assert "payments" in text and "November 2026" in text
    for name, value in screen.items():
        assert value in text, f"{name} {value!r} is not in the PDF"
    assert len(screen) >= 8  # cost, budget, used, forecast, three services and the total, at least

    browser.get(f"{server.url}/projects/{XSS_ID}?month={MONTH}")
    wait_for(lambda: "Services" in browser.page_source)
    no_script_ran(browser)
    assert browser.find_element(By.CSS_SELECTOR, "h1.project-title").text == XSS_NAME
    browser.save_screenshot(str(SHOTS / "3-script-named-project.png"))
    browser.get(f"{server.url}/projects/{ids['search-api']}?month={MONTH}")
    assert "403" in browser.title and "Forbidden" in browser.page_source


def figures_on_screen(browser: Any) -> dict[str, str]:
    """The project page's figures as shown (cents, grouped): the cards and the services table."""
    from selenium.webdriver.common.by import By

    found = {}
    for element in browser.find_elements(By.CSS_SELECTOR, "[data-figure]"):
        name = element.get_attribute("data-figure")
        if name != "name":
            found[name] = element.text.strip()
    for row in browser.find_elements(By.CSS_SELECTOR, "table.usage tr[data-service]"):
        service = row.get_attribute("data-service")
        for cell in row.find_elements(By.CSS_SELECTOR, "td[data-book]"):
            found[f"{service} {cell.get_attribute('data-book')}"] = cell.text.strip()
    assert all(re.fullmatch(r"[\d,]+\.\d{2}|[\d.]+%", value) for value in found.values()), found
    return found


def no_script_ran(browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = browser.switch_to.alert
    except NoAlertPresentException:
        alert = None
    assert alert is None, "a script ran: an alert is open"
    assert browser.execute_script("return document.scripts.length") == 0  # the page has no script at all


def pdf_text(path: Path) -> str:
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return done.stdout


def wait_for(check: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail("the page did not get there in time")
