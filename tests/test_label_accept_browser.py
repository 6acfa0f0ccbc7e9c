"""Accepting the model where it is sure (issue 24, item 3) in Debian's headless Chromium: the
page's 'accept' labels every crop of the page whose suggestion scores at least S with it, in one
action that one key undoes whole; beside it, what share of the run's validation images scoring
at least S the model got right; with a selection, only the selection's crops. Files and the
journal are checked on disk.

Needs `chromium`, `chromium-driver` and selenium (the dev extra), like test_label_browser.
"""

from __future__ import annotations

import pytest

from visord.label.review import Review
from visord.label.sample import write_run, write_scene
from visord.testing.browser import MISSING
from visord.testing.label_server import in_folder, journal, page_url, serving

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402 (after the importorskip)
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

SCENE = [
    ("hall", "empty", 0.97),
    ("hall", "person-10", 0.92),
    ("hall", "person-50", 0.6),
    ("gate", "empty", 0.95),
    ("gate", "person-30", 0.5),
]
VALIDATION = [
    ("empty", (0.99, 0.01)),
    ("empty", (0.96, 0.04)),
    ("empty", (0.4, 0.6)),
    ("people", (0.02, 0.98)),
    ("people", (0.08, 0.92)),
    ("people", (0.93, 0.07)),
]


def tile(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f'#grid figure[data-name="{name}"]')


def text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def test_accept_above_s_with_the_curve_undone_whole_and_on_a_selection(browser, tmp_path):
    root = tmp_path / "data"
    names = [record.name for record in write_scene(root, SCENE)]
    write_run(tmp_path / "validated", tmp_path / "run", VALIDATION)
    wait = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
    with serving(root, Review.load(tmp_path / "run", None)) as server:
        browser.get(page_url(server))
        wait.until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#grid figure")) == 5)
        # S = 0.9 (the default): three suggestions here; the run was right on 4 of its 5
        # validation images scoring at least 0.9 (five of six).
        wait.until(lambda driver: "accept 3 on this page" in text(driver, "accept"))
        wait.until(
            lambda driver: "right on 80.0% of its 5 validation images" in text(driver, "curve")
        )
        assert "(83.3%) scoring at least 0.90" in text(browser, "curve")
        browser.find_element(By.ID, "accept").click()
        wait.until(lambda driver: text(driver, "unlabelled") == "2 unlabelled")
        assert "accepted 3 suggestions scoring at least 0.9: 2 empty, 1 people" in text(
            browser, "status"
        )
        assert in_folder(root, "empty") == sorted([names[0], names[3]])
        assert in_folder(root, "people") == [names[1]]

        # One key takes the three back.
        webdriver.ActionChains(browser).send_keys("u").perform()
        wait.until(lambda driver: text(driver, "unlabelled") == "5 unlabelled")
        assert in_folder(root, "empty") == in_folder(root, "people") == []
        # They come back selected, so accept would take the selection: Escape keeps one tile.
        assert "accept 3 in the selection" in text(browser, "accept")
        webdriver.ActionChains(browser).send_keys(Keys.ESCAPE).perform()

        # S = 0.5 takes all five; with two tiles selected, those two only.
        field = browser.find_element(By.ID, "accept-threshold")
        field.clear()
        field.send_keys("0.5")
        wait.until(lambda driver: "accept 5 on this page" in text(driver, "accept"))
        tile(browser, names[2]).click()
        webdriver.ActionChains(browser).key_down(Keys.CONTROL).click(
            tile(browser, names[4])
        ).key_up(Keys.CONTROL).perform()
        wait.until(lambda driver: "accept 2 in the selection" in text(driver, "accept"))
        assert "right on 66.7% of its 6 validation images (100.0%)" in text(browser, "curve")
        browser.find_element(By.ID, "accept").click()
        wait.until(lambda driver: text(driver, "unlabelled") == "3 unlabelled")
        assert in_folder(root, "people") == sorted([names[2], names[4]])

        # A crop skipped on purpose is left out of the page's accept (a selection takes it).
        tile(browser, names[0]).click()
        webdriver.ActionChains(browser).send_keys("s").perform()
        wait.until(lambda driver: "skipped" in tile(driver, names[0]).get_attribute("class"))
        wait.until(lambda driver: "accept 2 on this page" in text(driver, "accept"))
    assert [(line["action"], line.get("count")) for line in journal(root)] == [
        ("accept-many", 3),
        ("undo", 3),
        ("accept-many", 2),
        ("skip", None),
    ]


def test_without_a_run_the_page_says_the_curve_was_not_measured(browser, tmp_path):
    root = tmp_path / "data"
    write_scene(root, SCENE)
    wait = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
    with serving(root, None) as server:
        browser.get(page_url(server))
        wait.until(lambda driver: "not measured" in text(driver, "curve"))
        assert "these 3 score 94.7% on average" in text(browser, "curve")
        assert not browser.find_element(By.ID, "mistakes-toggle").is_displayed()
        # Every suggestion is a class here: the automatic order is the model's doubts.
        option = browser.find_element(By.CSS_SELECTOR, "#order option[value=auto]")
        assert option.text == "automatic (most uncertain first)"
