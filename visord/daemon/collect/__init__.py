"""Collecting the frames worth labelling: a side branch of the frame path after inference.

- `choose`: why a classified frame is worth keeping (disagreement, doubt, a new label, a baseline
  sample), decided in the frame loop from the answers alone
- `writer`: the thread that crops, drops near-duplicates, encodes and writes each kept frame
  atomically into the data set, and keeps each stream's quota and the folder's disk cap
- `diverse`: for the writer, with a diversity budget or a class floor: whether a crop differs
  enough from its region's crops kept this hour, and which less different one it replaces
- `collector`: what the runtime talks to: `offer` never blocks (a bounded queue; what it drops is
  counted), `reconfigure` on reload, `snapshot` for the metrics
"""

from visord.daemon.collect.collector import Collector

__all__ = ["Collector"]
