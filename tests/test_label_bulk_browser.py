"""Bulk labelling and stacks in a real browser (issue 24): Debian's headless Chromium driven by
Selenium against a label server on 127.0.0.1. A range selected by click and shift-click labelled
with one key, undone after the server restarted; a drag, ctrl-click and the page selected; a
stack labelled with one key, a stack opened to take out its odd crop; the threshold and the order
controls. Files and the journal are checked on disk.

Needs `chromium` and `chromium-driver` and selenium (the dev extra), like test_label_browser.
"""

from __future__ import annotations

import pytest

from visord.label.sample import write_scene
from visord.testing.browser import MISSING
from visord.testing.label_server import STACKS_SCENE, in_folder, journal, page_url, serving

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402 (after the importorskip)
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

# The page shows five tiles, most uncertain first: the gate's person, the hall's two people, the
# gate's empty scene (a stack of 2) and the hall's (a stack of 6, one with a speck).
SCENE = STACKS_SCENE


@pytest.fixture
def scene(tmp_path):
    root = tmp_path / "data"
    return root, [record.name for record in write_scene(root, SCENE)]


def tiles(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#grid figure.crop")


def shown(driver) -> list[tuple[str, int]]:
    """Each tile's crop (a stack's cover) and how many crops it holds, in page order."""
    return [
        (name, int(count))
        for name, count in driver.execute_script(
            "return [...document.querySelectorAll('#grid figure.crop')]"
            ".map(f => [f.dataset.name, f.dataset.count])"
        )
    ]


def selected(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#grid figure.selected')].map(f => f.dataset.name)"
    )


def press(driver, key: str) -> None:
    webdriver.ActionChains(driver).send_keys(key).perform()


def modified_click(driver, element, key) -> None:
    webdriver.ActionChains(driver).key_down(key).click(element).key_up(key).perform()


def waiting(driver):
    return WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,))


def test_a_range_labelled_with_one_key_and_undone_after_a_restart(browser, scene):
    root, names = scene
    wait = waiting(browser)
    people = [names[10], names[6], names[7]]
    with serving(root) as server:
        browser.get(page_url(server))
        wait.until(lambda driver: len(tiles(driver)) == 5)
        assert shown(browser) == [*((name, 1) for name in people), (names[8], 2), (names[0], 6)]
        badges = [badge.text for badge in browser.find_elements(By.CSS_SELECTOR, ".badge")]
        assert badges == ["×2", "×6"]

        # Click the first, shift-click the third: three tiles; key 2 labels all three at once.
        tiles(browser)[0].click()
        modified_click(browser, tiles(browser)[2], Keys.SHIFT)
        assert selected(browser) == people
        assert browser.find_element(By.ID, "selection").text == "3 crops selected (3 tiles)"
        press(browser, "2")
        wait.until(lambda driver: len(tiles(driver)) == 2)
        assert "3 crops → people" in browser.find_element(By.ID, "status").text
    assert in_folder(root, "people") == sorted(people)
    (entry,) = journal(root)
    assert (entry["action"], entry["count"], entry["class"]) == ("label-many", 3, "people")

    # A new server on the same data set: u takes the whole bulk action back, and the three
    # crops come back selected.
    with serving(root) as server:
        browser.get(page_url(server))
        wait.until(lambda driver: len(tiles(driver)) == 2)
        press(browser, "u")
        wait.until(lambda driver: len(tiles(driver)) == 5)
        assert sorted(selected(browser)) == sorted(people)
        assert "undid label-many of 3 crops" in browser.find_element(By.ID, "status").text
        assert in_folder(root, "people") == []
        assert len(list(root.glob("unlabelled/*/*.jpg"))) == 11

        # A drag from the first tile to the second selects both; ctrl-click adds a stack; `a`
        # selects the page, Escape keeps the cursor's tile only.
        first, second = tiles(browser)[:2]
        webdriver.ActionChains(browser).click_and_hold(first).move_to_element(
            second
        ).release().perform()
        assert selected(browser) == people[:2]
        modified_click(browser, tiles(browser)[4], Keys.CONTROL)
        assert selected(browser) == [*people[:2], names[0]]
        assert "8 crops selected (3 tiles)" in browser.find_element(By.ID, "selection").text
        press(browser, "a")
        assert len(selected(browser)) == 5
        press(browser, Keys.ESCAPE)
        assert len(selected(browser)) == 1
    assert [entry["action"] for entry in journal(root)] == ["label-many", "undo"]


def test_a_stack_labelled_with_one_key_and_opened_for_its_odd_crop(browser, scene):
    root, names = scene
    hall, speck = names[:5], names[5]
    wait = waiting(browser)
    with serving(root) as server:
        browser.get(page_url(server))
        wait.until(lambda driver: len(tiles(driver)) == 5)
        # The hall's stack of six: one click selects it, key 1 labels all six, u undoes all six.
        tiles(browser)[4].click()
        press(browser, "1")
        wait.until(lambda driver: len(tiles(driver)) == 4)
        assert in_folder(root, "empty") == sorted([*hall, speck])
        press(browser, "u")
        wait.until(lambda driver: len(tiles(driver)) == 5)
        assert in_folder(root, "empty") == []

        # Opened (its count is a button): its six crops, one tile each; the speck labelled
        # alone; o closes the stack again, and one key labels the other five.
        browser.find_elements(By.CSS_SELECTOR, ".badge")[1].click()
        wait.until(lambda driver: len(tiles(driver)) == 10)
        members = browser.find_elements(By.CSS_SELECTOR, "#grid figure.member")
        assert [member.get_attribute("data-name") for member in members] == [*hall, speck]
        members[-1].click()
        press(browser, "2")
        wait.until(lambda driver: speck not in [name for name, _ in shown(driver)])
        assert in_folder(root, "people") == [speck]
        assert len(browser.find_elements(By.CSS_SELECTOR, "#grid figure.member")) == 5
        press(browser, "o")
        wait.until(lambda driver: (hall[0], 5) in shown(driver))
        tiles(browser)[-1].click()
        press(browser, "1")
        wait.until(lambda driver: len(tiles(driver)) == 4)
        assert in_folder(root, "empty") == sorted(hall)

        # The threshold: 0 shows every crop alone; the order: by region (gate first).
        field = browser.find_element(By.ID, "threshold")
        field.clear()
        field.send_keys("0", Keys.ENTER)
        wait.until(lambda driver: len(tiles(driver)) == 5)
        assert browser.find_element(By.ID, "position").text == "1–5 of 5"
        Select(browser.find_element(By.ID, "order")).select_by_value("stream")
        wait.until(lambda driver: [name for name, _ in shown(driver)][:3] == names[8:])
    assert [(entry["action"], entry.get("count")) for entry in journal(root)] == [
        ("label-many", 6),
        ("undo", 6),
        ("label", None),
        ("label-many", 5),
    ]
