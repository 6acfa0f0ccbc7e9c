"""URLs with credentials never reach a log line or a label."""

import pytest

from visord.contract.redact import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("rtsps://user@cam.local/live", "rtsps://***@cam.local/live"),
        (
            "http://cam/video.mjpg?user=a&password=hunter2&fps=5",
            "http://cam/video.mjpg?user=a&password=***&fps=5",
        ),
        ("rtsp://cam/path@odd", "rtsp://cam/path@odd"),
        ("/dev/video0", "/dev/video0"),
        ("demo://scenes", "demo://scenes"),
        ("rtsp://a:b@c:d@host/x", "rtsp://***@host/x"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown
