"""Shared fixtures: small image folders the tests generate themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from visord.testing.quadrants import write_quadrant_folder

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("VISORD_OFFLINE", "1")  # tests never download weights


@pytest.fixture(scope="session")
def quadrants(tmp_path_factory) -> Path:
    """4 classes x 40 images of 32x32, shared read-only by the tests."""
    return write_quadrant_folder(tmp_path_factory.mktemp("quadrants"), per_class=40)
