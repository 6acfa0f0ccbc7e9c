"""TensorFlow loaded without its start-up banner (`visord.training.import_tensorflow`), imported
for that alone by the benchmarks whose own imports load TensorFlow: `import bench.quiet_tensorflow`
is their first first-party import (import order puts it before `visord`'s)."""

from visord.training import import_tensorflow

import_tensorflow()
