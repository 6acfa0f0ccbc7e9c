"""The `Debouncer`: one stream's per-frame results in, an event only when the label changes and
holds.

Rules (one debouncer per stream, fed by one thread):

- A frame is *confident* when its score is at least `min_score`. A frame
  below `min_score` is ignored: it neither confirms a candidate label nor
  resets one. Why: an uncertain frame says nothing about the scene (motion
  blur, a passing shadow), and letting it reset the count would delay or
  suppress a real change on a noisy camera; letting it confirm would emit
  labels the model was not sure of.
- A confident label different from the current stable one becomes the
  candidate; it becomes stable, and emits one "change" event, after
  `hold_frames` consecutive confident frames with that label. A confident
  frame with another label restarts the count with that label; one with the
  stable label drops the candidate (flicker suppressed).
- A stream's first stable label emits an event too (`previous_label` None).
- The event carries the confirming frame's score, model, time and latency.
- Heartbeat (optional, seconds): a confident frame agreeing with the stable
  label emits a "heartbeat" event when `heartbeat` seconds of frame time
  have passed since the stream's last event. Uncertain or disagreeing frames
  send no heartbeat: a heartbeat asserts the label still holds.
"""

from __future__ import annotations

from visord.daemon.events.event import Event


class Debouncer:
    def __init__(
        self,
        stream: str,
        hold_frames: int = 3,
        min_score: float = 0.5,
        heartbeat: float | None = None,
    ):
        if hold_frames < 1:
            raise ValueError(f"hold_frames must be >= 1. Received `hold_frames={hold_frames!r}`")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1]. Received `min_score={min_score!r}`")
        if heartbeat is not None and heartbeat <= 0:
            raise ValueError(
                f"heartbeat must be > 0 seconds or None. Received `heartbeat={heartbeat!r}`"
            )
        self.stream = stream
        self.hold_frames = hold_frames
        self.min_score = min_score
        self.heartbeat = heartbeat
        self.stable: str | None = None
        self._candidate: str | None = None
        self._count = 0
        self._last_event_time: float | None = None

    def with_settings(
        self, hold_frames: int, min_score: float, heartbeat: float | None
    ) -> Debouncer:
        """A debouncer with new settings that keeps this one's stable label (a reload must not
        re-announce it)."""
        successor = Debouncer(self.stream, hold_frames, min_score, heartbeat)
        successor.stable = self.stable
        successor._last_event_time = self._last_event_time
        return successor

    def update(
        self, label: str, score: float, *, model: str, time: float, latency: float
    ) -> Event | None:
        """One classified frame; the event it completes, if any."""
        if not score >= self.min_score:  # written so that a NaN score counts as uncertain
            return None
        if label == self.stable:
            self._candidate = None
            self._count = 0
            return self._heartbeat(label, score, model, time, latency)
        if label != self._candidate:
            self._candidate = label
            self._count = 0
        self._count += 1
        if self._count < self.hold_frames:
            return None
        event = Event(self.stream, label, score, model, time, latency, previous_label=self.stable)
        self.stable = label
        self._candidate = None
        self._count = 0
        self._last_event_time = time
        return event

    def _heartbeat(
        self, label: str, score: float, model: str, time: float, latency: float
    ) -> Event | None:
        if self.heartbeat is None or self._last_event_time is None:
            return None
        if time < self._last_event_time:  # the wall clock stepped back: count from now
            self._last_event_time = time
        if time - self._last_event_time < self.heartbeat:
            return None
        self._last_event_time = time
        return Event(
            self.stream, label, score, model, time, latency, previous_label=label, kind="heartbeat"
        )
