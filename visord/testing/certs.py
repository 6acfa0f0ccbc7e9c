"""A self-signed certificate for 127.0.0.1, made with openssl: TLS tests of the metrics endpoint
and of the MQTT sink need one."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(cert: Path, key: Path) -> tuple[Path, Path]:
    """Writes a one-day certificate for 127.0.0.1 (and its key); returns (cert, key)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key
