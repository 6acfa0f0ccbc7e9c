"""What both halves share: the model contract (manifest), exit codes, timing, registries, URL
redaction.

Imports neither `visord.daemon` nor `visord.training`; both import it.
"""
