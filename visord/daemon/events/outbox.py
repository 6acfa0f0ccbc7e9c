"""`Outbox`: the MQTT sink's bounded, ordered buffer between `emit` and the broker.

Messages wait in a FIFO of at most `capacity`; a full FIFO drops its oldest
message and counts it. One sender thread takes them in order, only while
connected, and hands them to the MQTT client; a handed message stays
*in flight* until the client reports it published (qos 0: written to the
socket; qos 1/2: acknowledged). At most `window` messages are in flight, so
the client's own (unbounded) queue never holds more than that.

Order across a reconnect: paho resends its in-flight qos 1/2 messages only
after it has called `on_connect`, so a message published right at reconnect
could overtake them. After a connection loss with messages in flight the
outbox therefore hands out nothing new until those are acknowledged
("resync"). qos 0 messages in flight when the connection drops were never
written (paho writes and reports them in one thread), and are lost: counted
as failed, as qos 0 promises at most once.

No method calls into the MQTT client: paho holds its own locks while calling
back, and the outbox's lock is only ever taken without them held by us.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from visord.daemon.events.sink import SinkCounters


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, capacity: int, window: int, counters: SinkCounters, reliable: bool) -> None:
        if capacity < 1 or window < 1:
            raise ValueError(
                f"need capacity >= 1 and window >= 1. Received `capacity={capacity!r}`, "
                f"`window={window!r}`"
            )
        self.capacity = capacity
        self.window = window
        self.reliable = reliable
        self._counters = counters
        self._cond = threading.Condition()
        self._queue: deque[Message] = deque()
        self._inflight: dict[int, Message] = {}
        self._early_acks: set[int] = set()
        self._handing: Message | None = None
        self._connected = False
        self._epoch = 0
        self._resync = False
        self._closed = False

    # -- the caller's side

    def put(self, message: Message) -> None:
        with self._cond:
            dropped = 0
            while len(self._queue) >= self.capacity:
                self._queue.popleft()
                dropped += 1
            self._queue.append(message)
            self._changed()
        if dropped:
            self._counters.add(dropped=dropped)

    # -- the sender thread's side

    def take(self) -> tuple[Message, int] | None:
        """The next message to publish and the connection epoch it was taken in; None once
        closed."""
        with self._cond:
            while not self._closed and not self._ready():
                self._cond.wait()
            if self._closed:
                return None
            self._handing = self._queue.popleft()
            return self._handing, self._epoch

    def sent(self, mid: int, epoch: int) -> None:
        """The client accepted the message `take` returned, as `mid`."""
        with self._cond:
            message, self._handing = self._handing, None
            if mid in self._early_acks:
                self._early_acks.discard(mid)
                self._counters.add(delivered=1)
            elif epoch != self._epoch and not self.reliable:
                self._counters.add(failed=1)
            elif message is not None:
                self._inflight[mid] = message
                # Taken before a connection loss: paho resends it after
                # on_connect, so nothing may overtake it.
                self._resync = self._resync or epoch != self._epoch
            self._changed()

    def retry(self) -> None:
        """The client was not connected after all: the message goes back to the front."""
        with self._cond:
            message, self._handing = self._handing, None
            if message is not None:
                self._queue.appendleft(message)
            self._changed()

    def failed(self) -> None:
        """The client refused the message (an error that retrying will not fix)."""
        with self._cond:
            self._handing = None
            self._counters.add(failed=1)
            self._changed()

    # -- the MQTT client's callbacks

    def acked(self, mid: int) -> None:
        with self._cond:
            if self._inflight.pop(mid, None) is not None:
                self._counters.add(delivered=1)
                self._resync = self._resync and bool(self._inflight)
            else:
                self._early_acks.add(mid)
            self._changed()

    def connection(self, up: bool) -> None:
        with self._cond:
            self._connected = up
            if not up:
                self._epoch += 1
                if not self.reliable and self._inflight:
                    self._counters.add(failed=len(self._inflight))
                    self._inflight.clear()
                self._resync = bool(self._inflight)
            self._changed()

    # -- closing

    def wait_drained(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.pending():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> int:
        """Stops the sender; what is still pending is counted as dropped and returned."""
        with self._cond:
            self._closed = True
            abandoned = self.pending()
            self._queue.clear()
            self._inflight.clear()
            self._changed()
        if abandoned:
            self._counters.add(dropped=abandoned)
        return abandoned

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._inflight) + (self._handing is not None)

    def _ready(self) -> bool:
        if not (self._connected and self._queue) or len(self._inflight) >= self.window:
            return False
        return not (self._resync and self._inflight)

    def _changed(self) -> None:
        self._counters.set_buffered(self.pending())
        self._cond.notify_all()
