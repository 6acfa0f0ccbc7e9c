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

Beside the events, a second lane holds *the latest message per topic*
(`put_latest`): retained state that only matters as it is now (Home Assistant's
discovery configs and availability, a stream's current label, its latest
snapshot). A newer message for a topic replaces the one still waiting, which is
handed to `on_unsent` (so the sink can count a snapshot that never went out);
the lane is bounded by the number of topics, and never pushes an event out.
Events go first; the latest lane is taken when no event waits. Only events
count in the sink's delivered/failed/dropped/buffered numbers.

A broker that stays connected but stops acknowledging (stuck, or too slow to
read) keeps messages in flight: `waiting(now)` says for how long nothing in
flight has been acknowledged, which the sink reports as a stall. Nothing here
waits for it: the window stays full, events pile up in the FIFO (its oldest
dropped when full), and the caller's `put` never blocks.

No method calls into the MQTT client: paho holds its own locks while calling
back, and the outbox's lock is only ever taken without them held by us.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from visord.daemon.events.sink import SinkCounters


@dataclass(frozen=True)
class Message:
    """kind: "event" (counted in the sink's numbers) or what a latest-lane message is
    ("config", "status", "state", "snapshot"). retain: None is the sink's setting."""

    topic: str
    payload: bytes
    kind: str = "event"
    retain: bool | None = None

    @property
    def counted(self) -> bool:
        return self.kind == "event"


class Outbox:
    def __init__(
        self,
        capacity: int,
        window: int,
        counters: SinkCounters,
        reliable: bool,
        on_unsent: Callable[[Message], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
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
        self._latest: dict[str, Message] = {}  # by topic; the one put longest ago first
        self._on_unsent = on_unsent or (lambda message: None)
        self._inflight: dict[int, Message] = {}
        self._early_acks: set[int] = set()
        self._handing: Message | None = None
        self._connected = False
        self._epoch = 0
        self._resync = False
        self._closed = False
        self._clock = clock
        # when the in-flight window last moved: an acknowledgement, or the first message handed
        # to an empty window
        self._progress = clock()

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

    def put_latest(self, message: Message) -> None:
        """`message` replaces whatever still waits for its topic (handed to `on_unsent`)."""
        with self._cond:
            replaced = self._latest.pop(message.topic, None)
            self._latest[message.topic] = message
            self._changed()
        if replaced is not None:
            self._on_unsent(replaced)

    # -- the sender thread's side

    def take(self) -> tuple[Message, int] | None:
        """The next message to publish and the connection epoch it was taken in; None once
        closed."""
        with self._cond:
            while not self._closed and not self._ready():
                self._cond.wait()
            if self._closed:
                return None
            if self._queue:
                self._handing = self._queue.popleft()
            else:
                self._handing = self._latest.pop(next(iter(self._latest)))
            return self._handing, self._epoch

    def sent(self, mid: int, epoch: int) -> None:
        """The client accepted the message `take` returned, as `mid`."""
        with self._cond:
            message, self._handing = self._handing, None
            counted = message is not None and message.counted
            if mid in self._early_acks:
                self._early_acks.discard(mid)
                self._counters.add(delivered=int(counted))
            elif epoch != self._epoch and not self.reliable:
                self._counters.add(failed=int(counted))
            elif message is not None:
                if not self._inflight:
                    self._progress = self._clock()
                self._inflight[mid] = message
                # Taken before a connection loss: paho resends it after
                # on_connect, so nothing may overtake it.
                self._resync = self._resync or epoch != self._epoch
            self._changed()

    def retry(self) -> None:
        """The client was not connected after all: the message goes back to the front."""
        with self._cond:
            message, self._handing = self._handing, None
            replaced = None
            if message is not None and message.counted:
                self._queue.appendleft(message)
            elif message is not None:
                if message.topic in self._latest:  # a newer one came meanwhile
                    replaced = message
                else:
                    self._latest = {message.topic: message, **self._latest}
            self._changed()
        if replaced is not None:
            self._on_unsent(replaced)

    def failed(self) -> None:
        """The client refused the message (an error that retrying will not fix)."""
        with self._cond:
            message, self._handing = self._handing, None
            self._counters.add(failed=int(message is None or message.counted))
            self._changed()

    # -- the MQTT client's callbacks

    def acked(self, mid: int) -> None:
        with self._cond:
            if (message := self._inflight.pop(mid, None)) is not None:
                self._progress = self._clock()
                self._counters.add(delivered=int(message.counted))
                self._resync = self._resync and bool(self._inflight)
            else:
                self._early_acks.add(mid)
            self._changed()

    def connection(self, up: bool) -> None:
        with self._cond:
            self._connected = up
            if up:  # what is in flight is resent now: it has had no chance to be acknowledged
                self._progress = self._clock()
            else:
                self._epoch += 1
                if not self.reliable and self._inflight:
                    lost = sum(message.counted for message in self._inflight.values())
                    self._counters.add(failed=lost)
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
            abandoned = self._events_pending()
            unsent = [*self._latest.values()]
            unsent += [m for m in self._inflight.values() if not m.counted]
            self._queue.clear()
            self._latest.clear()
            self._inflight.clear()
            self._changed()
        if abandoned:
            self._counters.add(dropped=abandoned)
        for message in unsent:
            self._on_unsent(message)
        return abandoned

    def pending(self) -> int:
        """Every message not yet acknowledged, of both lanes."""
        with self._cond:
            return (
                len(self._queue)
                + len(self._latest)
                + len(self._inflight)
                + (self._handing is not None)
            )

    def waiting(self) -> tuple[float, int]:
        """How long the broker has acknowledged nothing while connected with messages in flight
        (0.0 when nothing is in flight or the connection is down: that is an outage, not a stall),
        and how many messages are in flight."""
        with self._cond:
            if not self._connected or not self._inflight:
                return 0.0, len(self._inflight)
            return max(0.0, self._clock() - self._progress), len(self._inflight)

    def _events_pending(self) -> int:
        handing = self._handing is not None and self._handing.counted
        return (
            len(self._queue) + sum(message.counted for message in self._inflight.values()) + handing
        )

    def _ready(self) -> bool:
        if not self._connected or not (self._queue or self._latest):
            return False
        if len(self._inflight) >= self.window:
            return False
        return not (self._resync and self._inflight)

    def _changed(self) -> None:
        self._counters.set_buffered(self._events_pending())
        self._cond.notify_all()
