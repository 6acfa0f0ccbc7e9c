"""Frames to predictions: preprocessing to a model's input contract and the onnxruntime session."""
