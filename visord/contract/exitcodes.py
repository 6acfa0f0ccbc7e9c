"""The exit statuses of every `visord` command: one name for each, from sysexits.h (`os.EX_*`).

systemd's unit reads them (`RestartPreventExitStatus=78`): a bad config or model is never retried, a
metrics port still taken by a closing instance is.
"""

from __future__ import annotations

import os

OK = os.EX_OK  # 0: done, or stopped by SIGTERM/SIGINT
USAGE = os.EX_USAGE  # 64: a command line that cannot work (an unknown --set key, say)
DATAERR = os.EX_DATAERR  # 65: the data given is wrong (a dataset folder, an image)
NOINPUT = os.EX_NOINPUT  # 66: an input file or folder is missing
UNAVAILABLE = os.EX_UNAVAILABLE  # 69: something the command needs is not installed or not reachable
SOFTWARE = os.EX_SOFTWARE  # 70: a fatal error in visord itself (traceback logged)
CANTCREAT = os.EX_CANTCREAT  # 73: an output cannot be written
TEMPFAIL = os.EX_TEMPFAIL  # 75: worth a retry (the metrics port is still taken)
CONFIG = os.EX_CONFIG  # 78: a bad config or model: retrying cannot help
INTERRUPTED = 128 + 2  # 130: stopped by Ctrl-C (SIGINT) before it finished
