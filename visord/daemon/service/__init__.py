"""The process around the frame loop: start-up and signals, the HTTP endpoint, systemd's notify
socket, the
status line."""
