"""The training pipeline: Keras architectures, data, training, evaluation, ONNX export,
quantization, tuning."""
