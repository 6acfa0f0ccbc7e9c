"""The `visord` sub-commands, one module each, above both halves: the camera box's (`run`, `check`,
`models`) and the training pipeline's (`train`, `evaluate`, `export`, `tune`). The training ones
import TensorFlow only when they run."""
