"""`--log-format json`: the key=value pairs the daemon logs become JSON fields, the message stays
readable, and the text format is unchanged. The lines are real ones: a stream reader playing a real
H.264 file to its end, and one failing on a closed RTSP port."""

from __future__ import annotations

import json
import logging

import pytest

from visord.daemon.sources import ReaderConfig, StreamReader
from visord.logs import TEXT_FORMAT, JsonFormatter, message_fields
from visord.testing.media import write_h264
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for


class Lines(logging.Handler):
    """Keeps each record as both formats write it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.json = []
        self.text = []
        self._json = JsonFormatter()
        self._text = logging.Formatter(TEXT_FORMAT)

    def emit(self, record: logging.LogRecord) -> None:
        self.json.append(json.loads(self._json.format(record)))
        self.text.append(self._text.format(record))


@pytest.fixture
def lines():
    handler = Lines()
    logger = logging.getLogger("visord.daemon.sources.reader")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)  # setLevel, not an assignment: it clears the level cache
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def run_reader(config: ReaderConfig, until) -> None:
    reader = StreamReader(config).start()
    try:
        wait_for(lambda: until(reader), what=f"stream {config.name}")
    finally:
        reader.stop()


def test_a_stream_that_plays_and_finishes_logs_its_state_as_fields(lines, tmp_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=10)
    config = ReaderConfig("clip", str(clip), realtime=False)
    # the line, not the state: the state is set before its line is written
    run_reader(config, lambda reader: any(e.get("state") == "finished" for e in lines.json))
    states = [(entry["camera"], entry.get("state")) for entry in lines.json]
    assert states[:3] == [("clip", "connecting"), ("clip", "streaming"), ("clip", "finished")]
    finished = lines.json[2]
    assert finished["reason"] == "end of the file" and finished["source"] == str(clip)
    assert (
        finished["message"]
        == f"camera=clip source={clip} streams=clip state=finished reason='end of the file'"
    )
    assert finished["level"] == "info" and finished["logger"] == "visord.daemon.sources.reader"
    # the text format prints the very message, as before
    assert lines.text[2].endswith(f" INFO visord.daemon.sources.reader: {finished['message']}")


def test_a_failing_stream_logs_its_error_and_backoff_as_fields(lines):
    url = f"rtsp://viewer:hunter2@127.0.0.1:{free_port()}/stream"
    config = ReaderConfig("door", url, backoff_initial=0.2, backoff_max=0.5)
    # the backoff line follows the error line: wait for it, not for the error count
    run_reader(config, lambda reader: any(e.get("state") == "backoff" for e in lines.json))
    [error] = [entry for entry in lines.json if "error" in entry][:1]
    assert error["level"] == "warning" and error["camera"] == "door" and error["streams"] == "door"
    assert error["source"].startswith("rtsp://***@127.0.0.1:")
    assert error["error"].startswith("open failed: rtsp://***@127.0.0.1:")
    assert error["error"].endswith("over TCP: connection refused (nothing listens on that port)")
    backoff = next(entry for entry in lines.json if entry.get("state") == "backoff")
    assert backoff["reason"] == error["error"] and float(backoff["retry_in"]) > 0
    assert "hunter2" not in json.dumps(lines.json)


def test_extra_fields_join_and_the_standard_fields_cannot_be_overwritten():
    record = logging.makeLogRecord(
        {
            "name": "visord.test",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "stream=%s level=%s message=%r",
            "args": ("door", "sneaky", "not this"),
            "camera_model": "acme",
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["stream"] == "door" and entry["camera_model"] == "acme"
    assert entry["level"] == "warning"
    assert entry["message"] == "stream=door level=sneaky message='not this'"


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (
            "model=small loaded input=[None, 8, 8, 3] precision=fp32",
            {"model": "small", "input": "[None, 8, 8, 3]", "precision": "fp32"},
        ),
        (  # a value holding '=' (a URL's query) is one value
            "stream=demo started source=demo://scenes?fps=10&size=64x48 fps=5",
            {"stream": "demo", "source": "demo://scenes?fps=10&size=64x48", "fps": "5"},
        ),
        (  # a %r value with spaces, quotes and '=' in it
            'stream=a error="it\'s down: x=1" state=backoff',
            {"stream": "a", "error": "it's down: x=1", "state": "backoff"},
        ),
        ("event sink jsonl -> /var/lib/visord/events.jsonl", {}),
    ],
)
def test_message_fields(message, fields):
    assert message_fields(message) == fields
