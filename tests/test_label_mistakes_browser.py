"""The model's mistakes shown back (issue 24, item 5) in Debian's headless Chromium: after
`visord train`, the page (started with --run) shows the validation images the model got wrong
and the confusion matrix, each image with its label and the model's answer; Enter moves one to
the model's answer (the file moves on disk, a journal entry), x deletes one, u undoes, and
'back to the crops' returns to labelling. The run's predictions file is written by the test
(`visord.label.sample.write_run`).

Needs `chromium`, `chromium-driver` and selenium (the dev extra), like test_label_browser.
"""

from __future__ import annotations

import json

import pytest

from visord.label.review import Review
from visord.label.sample import write_run, write_scene
from visord.testing.browser import MISSING
from visord.testing.label_server import MISTAKES_VALIDATION, page_url, serving

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402 (after the importorskip)
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

VALIDATION = MISTAKES_VALIDATION


def mistakes(driver) -> list[list[str]]:
    """Each mistake tile's path now, its label line and the model's answer line."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#grid figure.mistake')].map(f => [f.dataset.path,"
        " f.querySelector('.suggestion').textContent, f.querySelector('.answer').textContent])"
    )


def press(driver, key: str) -> None:
    webdriver.ActionChains(driver).send_keys(key).perform()


def files(root, folder: str) -> list[str]:
    return sorted(path.name for path in (root / folder).glob("*.jpg"))


def test_the_mistakes_relabelled_and_deleted_in_place(browser, tmp_path):
    root = tmp_path / "data"
    write_run(root, tmp_path / "run", VALIDATION)
    write_scene(root, [("hall", "empty", 0.9)])  # one crop still waiting
    wait = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
    with serving(root, Review.load(tmp_path / "run", None)) as server:
        browser.get(page_url(server))
        toggle = browser.find_element(By.ID, "mistakes-toggle")
        wait.until(lambda driver: toggle.is_displayed())
        assert toggle.text == "the model's mistakes (3)"
        toggle.click()
        wait.until(lambda driver: len(mistakes(driver)) == 3)
        assert mistakes(browser) == [
            ["empty/empty-02.jpg", "empty", "model: people 0.90 2"],
            ["people/people-04.jpg", "people", "model: empty 0.80 1"],
            ["empty/empty-01.jpg", "empty", "model: people 0.60 2"],
        ]
        summary = browser.find_element(By.ID, "review-summary").text
        assert summary == "run run: 6 validation images, 50.0% right; 3 wrong"
        matrix = browser.execute_script(
            "return [...document.querySelectorAll('#confusion tr')]"
            ".map(r => [...r.children].map(c => c.textContent))"
        )
        assert matrix == [["class \\ answer", "empty", "people"], ["empty", "1", "2"],
                          ["people", "1", "2"]]  # fmt: skip
        assert not browser.find_element(By.ID, "accept").is_displayed()

        # The first is a person after all: Enter moves it to the model's answer.
        browser.find_elements(By.CSS_SELECTOR, "#grid figure.mistake")[0].click()
        press(browser, "\n")
        wait.until(lambda driver: mistakes(driver)[0][0] == "people/empty-02.jpg")
        assert mistakes(browser)[0][1] == "people (was empty)"
        assert "fixed" in browser.find_elements(By.CSS_SELECTOR, "#grid figure")[0].get_attribute(
            "class"
        )
        assert "empty-02.jpg" in files(root, "people") and "empty-02.jpg" not in files(
            root, "empty"
        )
        assert (
            "moved to the model's answer since"
            in browser.find_element(By.ID, "review-summary").text
        )

        # The second is a bad image: x deletes it to the trash; u brings it back.
        browser.find_elements(By.CSS_SELECTOR, "#grid figure.mistake")[1].click()
        press(browser, "x")
        wait.until(lambda driver: len(mistakes(driver)) == 2)
        assert (root / ".visord/trash/people-04.jpg").is_file()
        press(browser, "u")
        wait.until(lambda driver: len(mistakes(driver)) == 3)
        assert "people-04.jpg" in files(root, "people")

        # The third is empty indeed: key 1 (empty) is refused, it is labelled so already.
        browser.find_elements(By.CSS_SELECTOR, "#grid figure.mistake")[2].click()
        press(browser, "1")
        wait.until(lambda driver: "labelled empty already" in driver.find_element(
            By.ID, "status").text)  # fmt: skip

        # Back to the crops: the waiting crop, and the counts moved with the files.
        toggle.click()
        wait.until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#grid figure")) == 1)
        assert toggle.text == "the model's mistakes (3)"
        counts = browser.find_element(By.ID, "classes").text
        assert "empty 2" in counts and "people 4" in counts
    lines = (root / ".visord/labels.jsonl").read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["relabel", "delete-labelled", "undo"]
