"""Shared fixtures: small image folders the tests generate themselves, the root logger as each
test found it, a headless Chromium for the page tests, and Keras's global state cleared after each
test file."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from visord.testing.browser import chromium
from visord.testing.quadrants import write_quadrant_folder

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("VISORD_OFFLINE", "1")  # tests never download weights


@pytest.fixture(autouse=True)
def root_logger_restored():
    """`visord` run in-process replaces the root handlers with one on sys.stderr, which pytest
    closes after the test; a later test's threads would log into that closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def quadrants(tmp_path_factory) -> Path:
    """4 classes x 40 images of 32x32, shared read-only by the tests."""
    return write_quadrant_folder(tmp_path_factory.mktemp("quadrants"), per_class=40)


@pytest.fixture
def broker(tmp_path):
    """Debian's mosquitto on a free port of 127.0.0.1, stopped after the test."""
    from visord.testing.mqtt_broker import Broker

    server = Broker(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path):
    """Debian's Chromium, headless, with a fresh profile in the test's folder and the default
    window (1280x860), quit after the test; the page tests skip without it
    (`visord.testing.browser.MISSING`)."""
    with chromium(tmp_path / "profile") as driver:
        yield driver


@pytest.fixture
def closing():
    """Sinks and subscribers made by a test, closed at its end whatever happened."""
    made = []
    yield made.append
    for thing in reversed(made):
        thing.close()


@pytest.fixture(autouse=True, scope="module")
def keras_state_cleared():
    """Keras's global state (its graphs and traced functions) cleared after each test file, so a
    later file's trainings and exports do not slow down under the models earlier files built."""
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.utils.clear_session(free_memory=True)
