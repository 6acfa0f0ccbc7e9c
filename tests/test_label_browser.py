"""The label page in a real browser: Debian's headless Chromium driven by Selenium through
chromedriver, against a server on 127.0.0.1. Labels by key and by click, undoes, adds a class and
labels into it, then checks the files and the journal on disk.

Needs `chromium` and `chromium-driver` (the Makefile's TEST_DEBS) and selenium (the dev extra).
Chromium runs with a fresh profile and without its background traffic: the test machine has no
network, and nothing here may leave 127.0.0.1. Naming both binaries keeps Selenium Manager (which
would download drivers) out of it. VISORD_LABEL_SCREENSHOT=FILE saves the page as it ends.
"""

from __future__ import annotations

import json
import os

import pytest

from visord.contract.dataset import REASONS, read_record
from visord.label.sample import write_sample
from visord.testing.browser import MISSING
from visord.testing.label_server import page_url, serving

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402 (after the importorskip)
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
# Where the screenshot goes besides the test's folder (to look at it after a run).
SCREENSHOT = os.environ.get("VISORD_LABEL_SCREENSHOT")


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "data"
    records = write_sample(root, 12, seed=5)
    with serving(root) as server:
        yield root, records, page_url(server)


def tiles(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#grid figure.crop")


def names(driver) -> list[str]:
    """The crops on the page, read in one go (the grid is redrawn after each action)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#grid figure.crop')].map(f => f.dataset.name)"
    )


def selected(driver) -> str | None:
    return driver.execute_script(
        "const f = document.querySelector('#grid figure.selected'); return f && f.dataset.name"
    )


def press(driver, key: str) -> None:
    webdriver.ActionChains(driver).send_keys(key).perform()


def test_labelling_in_the_browser_by_key_click_undo_and_a_new_class(browser, site, tmp_path):
    root, records, url = site
    by_name = {record.name: record for record in records}
    expected = sorted(
        records,
        key=lambda r: (-r.uncertainty, REASONS.index(r.reason), -r.time.timestamp(), r.name),
    )
    wait = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
    browser.get(url)
    wait.until(lambda driver: len(tiles(driver)) == 12)

    # Most uncertain first, the first selected, each with its suggestion and the key legend.
    assert names(browser) == [record.name for record in expected]
    assert selected(browser) == expected[0].name
    for tile in tiles(browser):
        suggestion = by_name[tile.get_attribute("data-name")].suggestion
        assert tile.find_element(By.CSS_SELECTOR, ".suggestion").text.startswith(suggestion)
    header = browser.find_element(By.TAG_NAME, "header").text
    assert "12 unlabelled" in header and "s skip" in header and "x delete" in header
    buttons = browser.find_elements(By.CSS_SELECTOR, "#classes button")
    assert [button.text.split() for button in buttons] == [
        ["1", "empty", "0"],
        ["2", "people", "0"],
    ]

    # Key 2 labels the selected (first) crop as people.
    first = expected[0].name
    press(browser, "2")
    wait.until(lambda driver: first not in names(driver) and len(tiles(driver)) == 11)
    # A click selects a crop, a click on a class labels it.
    third = names(browser)[2]
    tiles(browser)[2].click()
    assert selected(browser) == third
    browser.find_element(By.CSS_SELECTOR, '#classes button[data-class="empty"]').click()
    wait.until(lambda driver: third not in names(driver))
    # u undoes the click: the crop is back, and selected.
    press(browser, "u")
    wait.until(lambda driver: third in names(driver))
    assert selected(browser) == third
    assert "undid label of" in browser.find_element(By.ID, "status").text

    # A class added in the page; its key (classes sort by name) labels the selected crop.
    field = browser.find_element(By.ID, "new-class")
    field.send_keys("bicycle\n")
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, '[data-class="bicycle"]'))
    button = browser.find_element(By.CSS_SELECTOR, '#classes button[data-class="bicycle"]')
    assert button.text.split() == ["1", "bicycle", "0"]
    press(browser, Keys.ARROW_RIGHT)
    second = names(browser)[names(browser).index(third) + 1]
    assert selected(browser) == second
    press(browser, "1")
    wait.until(lambda driver: second not in names(driver))
    wait.until(lambda driver: "10 unlabelled" in driver.find_element(By.ID, "unlabelled").text)
    assert "1 people" not in browser.find_element(By.ID, "classes").text  # counts, not keys
    browser.save_screenshot(str(tmp_path / "label-page.png"))
    if SCREENSHOT:
        browser.save_screenshot(SCREENSHOT)

    # On disk: where each crop went, and the journal says the same.
    def place(name: str) -> list[str]:
        return sorted(str(path.relative_to(root)) for path in root.rglob(f"{name}.*"))

    def unlabelled(name: str) -> list[str]:
        stream = by_name[name].stream
        return [f"unlabelled/{stream}/{name}.jpg", f"unlabelled/{stream}/{name}.json"]

    assert place(first) == [f".visord/records/{first}.json", f"people/{first}.jpg"]
    assert place(third) == unlabelled(third)
    assert place(second) == [f".visord/records/{second}.json", f"bicycle/{second}.jpg"]
    assert sorted(path.name for path in root.iterdir()) == [
        ".visord",
        "bicycle",
        "empty",
        "people",
        "unlabelled",
    ]
    lines = (root / ".visord/labels.jsonl").read_text().splitlines()
    steps = [
        (entry["action"], entry["name"], entry["class"], entry["to_path"])
        for entry in map(json.loads, lines)
    ]
    assert steps == [
        ("label", first, "people", f"people/{first}.jpg"),
        ("label", third, "empty", f"empty/{third}.jpg"),
        ("undo", third, "empty", unlabelled(third)[0]),
        ("add-class", None, "bicycle", "bicycle"),
        ("label", second, "bicycle", f"bicycle/{second}.jpg"),
    ]


def test_skip_delete_ctrl_z_enter_and_paging_in_the_browser(browser, tmp_path):
    root = tmp_path / "data"
    write_sample(root, 60, seed=9)
    with serving(root) as server:
        wait = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
        browser.get(page_url(server))
        wait.until(lambda driver: len(names(driver)) == 48)
        position = browser.find_element(By.ID, "position")
        assert position.text == "1–48 of 60"
        skipped, deleted = names(browser)[:2]
        press(browser, "s")  # to the back of the listing: off this page
        wait.until(lambda driver: skipped not in names(driver) and selected(driver) == deleted)
        press(browser, "x")
        wait.until(lambda driver: deleted not in names(driver) and "of 59" in position.text)
        assert (root / ".visord/trash" / f"{deleted}.jpg").exists()
        webdriver.ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(
            Keys.CONTROL
        ).perform()
        wait.until(lambda driver: selected(driver) == deleted and "of 60" in position.text)
        suggestion = read_suggestion(root, deleted)
        press(browser, Keys.ENTER)  # takes the suggestion
        wait.until(lambda driver: deleted not in names(driver) and "of 59" in position.text)
        press(browser, Keys.PAGE_DOWN)
        wait.until(lambda driver: position.text == "49–59 of 59")
        assert names(browser)[-1] == skipped
        last = browser.find_elements(By.CSS_SELECTOR, "#grid figure.crop")[-1]
        assert "skipped" in last.get_attribute("class")
    assert (root / suggestion / f"{deleted}.jpg").exists()
    assert [entry["action"] for entry in map(json.loads, journal_lines(root))] == [
        "skip",
        "delete",
        "undo",
        "label",
    ]


def read_suggestion(root, name: str) -> str:
    (record,) = root.glob(f"unlabelled/*/{name}.json")
    return read_record(record).suggestion


def journal_lines(root) -> list[str]:
    return (root / ".visord/labels.jsonl").read_text().splitlines()
