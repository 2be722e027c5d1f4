"""End to end in headless Debian Chromium: paste a job ad into the Space, click Extract, wait for the highlighted
ad and the skills table, and save a screenshot (docs/screenshots/extraction_tab.png, shown in the README).

Needs ``apt-get install -y chromium chromium-driver`` (done by .ci/run); skipped when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "screenshots" / "extraction_tab.png"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1900",
    "--hide-scrollbars", "--force-device-scale-factor=1",
]
PAGE_SECONDS = 90
EXTRACT_SECONDS = 420  # the page waits for the server's models (loaded once; minutes on 2 CPUs when uncached)
TEST_SECONDS = 600

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian Chromium at /usr/bin/chromium "
                       "(apt-get install -y chromium chromium-driver)"),
]


def _helpers():
    """tests/test_demo.py: the app loader, time bound and demo server (one copy of that code)."""
    spec = importlib.util.spec_from_file_location("contextmatch_demo_test_helpers", Path(__file__).with_name("test_demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _helpers()


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="contextmatch-demo-browser-") as log_dir:
        with helpers.running_server(Path(log_dir)) as running:
            yield running


@pytest.fixture
def browser(tmp_path):
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not CHROMEDRIVER.exists():
        pytest.fail(f"{CHROMEDRIVER} is missing: apt-get install -y chromium-driver")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def test_paste_extract_and_screenshot(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    callbacks = helpers.load_app().callbacks
    ad = helpers.EXAMPLE_AD
    with helpers.time_bound(TEST_SECONDS, "the browser test"):
        expected = callbacks.run_extraction(ad, 5, None)[0].skills[0].label  # the ad's best skill, from the same model

        browser.get(server.url)
        box = WebDriverWait(browser, PAGE_SECONDS).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, "#ad-text textarea")))
        box.click()
        box.send_keys(ad)
        assert box.get_attribute("value").strip() == ad.strip()
        browser.find_element(By.CSS_SELECTOR, "#extract-btn").click()

        def shown(driver):
            highlighted = driver.find_element(By.CSS_SELECTOR, "#highlighted-ad").text
            table = driver.find_element(By.CSS_SELECTOR, "#skills-table").text
            return expected.lower() in highlighted.lower() and expected in table  # inline labels are upper-cased

        WebDriverWait(browser, EXTRACT_SECONDS, poll_frequency=0.5).until(
            shown, message=f"{expected!r} did not appear in the highlighted ad and the table\n{server.log()}")
        # The per-sentence view follows the extraction: a plot for the first sentence's first skill.
        WebDriverWait(browser, PAGE_SECONDS).until(
            lambda d: "Attention of" in d.find_element(By.CSS_SELECTOR, "#attention-caption").text)
        highlighted = browser.find_element(By.CSS_SELECTOR, "#highlighted-ad")
        assert set(re.findall(r"\w+", ad)) <= set(re.findall(r"\w+", highlighted.text))  # the whole ad is shown
        assert browser.find_elements(By.CSS_SELECTOR, "#skills-table a[href*='esco.ec.europa.eu']")
        assert "Traceback" not in browser.page_source

        browser.execute_script("window.scrollTo(0, 0)")
        shot = tmp_path / "extraction_tab.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def test_title_tab(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    callbacks = helpers.load_app().callbacks
    with helpers.time_bound(TEST_SECONDS, "the title tab in the browser"):
        browser.get(server.url)
        tab = WebDriverWait(browser, PAGE_SECONDS).until(
            ec.element_to_be_clickable((By.XPATH, "//button[@role='tab' and contains(., 'Job title')]")))
        tab.click()
        if not callbacks.titles_available():
            notice = WebDriverWait(browser, PAGE_SECONDS).until(
                ec.visibility_of_element_located((By.CSS_SELECTOR, "#titles-missing")))
            assert "title model is not installed" in notice.text
            return
        box = WebDriverWait(browser, PAGE_SECONDS).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, "#title-text input")))
        box.send_keys("registered nurse")
        browser.find_element(By.CSS_SELECTOR, "#normalize-btn").click()
        links = "#occupations-table a[href*='classification/occupation']"
        WebDriverWait(browser, EXTRACT_SECONDS, poll_frequency=0.5).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, links),
            message=f"no ESCO occupation appeared\n{server.log()}")
        assert browser.find_elements(By.CSS_SELECTOR, "#implied-table a[href*='classification/skill']")
        assert "Traceback" not in browser.page_source
        shot = tmp_path / "title_tab.png"
        assert browser.save_screenshot(str(shot))
        shutil.copyfile(shot, SCREENSHOT.with_name("title_tab.png"))
