"""The camera box: frames in, ONNX recognition, events and metrics out. Never imports TensorFlow nor
`visord.training`.

The frame path, one package a stage: `sources` (a camera to frames) -> `router` (which model, at
what rate) -> `inference` (preprocess, batch, run) -> `events` (debounce, sinks). `runtime` steps
them; `config` is the YAML policy; `metrics` names every series; `service` is the process around the
loop.
"""
