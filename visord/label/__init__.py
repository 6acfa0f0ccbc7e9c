"""The label page behind `visord label DATASET`: a small web page, served by the standard
library, that sorts the crops `visord collect` left in `DATASET/unlabelled/` into class folders.

`paths` is the one gate from a name in a request to a file in the data set; `listing` keeps the
sorted listing of unlabelled crops and the class counts without re-reading every record;
`journal` is `labels.jsonl`, the record of every action and the undo stack rebuilt from it;
`actions` moves the files (label, skip, delete, accept the model's sure suggestions, relabel,
undo, add a class); `review` is the model given with --run/--model (its curve, its mistakes);
`server` is the HTTP API, the token check and the page in `static/` (plain HTML, CSS and
JavaScript: no build step, nothing fetched from the network); `sample` writes a small synthetic
data set to try it on. Imports `visord.contract` only: no TensorFlow, no daemon.
"""
