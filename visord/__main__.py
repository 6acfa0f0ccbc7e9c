"""`python -m visord`: the same as the `visord` command."""

import sys

from visord.cli import main

sys.exit(main())
