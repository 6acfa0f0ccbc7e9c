"""/healthz for a file stream that played to its end: finished is not down (issue "House in order"
3.9). A real `visord run` over the demo scenes and a real short H.264 file played once."""

from __future__ import annotations

import json

from visord.testing.daemon_process import DaemonProcess, fetch, tiny_config
from visord.testing.media import write_h264
from visord.testing.rtsp_server import free_port
from visord.testing.wait import wait_for


def test_a_file_played_to_its_end_is_finished_not_unhealthy(tmp_path):
    clip = write_h264(tmp_path / "clip.mp4", frames=15, fps=15)  # one second, played once
    port = free_port()
    config = tiny_config(
        tmp_path, port, f'  - {{name: clip, source: "{clip}", fps: 5, model: small}}\n'
    )

    def health() -> tuple[int, dict]:
        status, body = fetch(port, "/healthz")
        return status, json.loads(body) if status else {}

    with DaemonProcess(config, port) as daemon:
        status, body = wait_for(
            lambda: (
                (answer := health())[0]
                and answer[1]["streams"]["clip"]["state"] == "finished"
                and answer
            ),
            timeout=60,
            what="the clip stream to finish",
        )
        assert daemon.process.poll() is None
    assert body["streams"]["clip"] == {
        "healthy": True,
        "state": "finished",
        "camera": "clip",
        "reason": "end of the file",
    }
    assert status == 200 and body["healthy"], body
    assert body["streams"]["demo"]["state"] == "streaming"
