"""The harness that tests and benchmarks share: real media and servers (RTSP, MJPEG, MQTT,
PostgreSQL,
systemd's notify socket), a daemon in a subprocess, tiny ONNX models, the fault lab and the soak
run."""
