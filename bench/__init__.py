"""visord's benchmarks: each module is a script run from the repository root as
`python -m bench.NAME` (`--help` says what it measures). They print tables and ratios, write their
figures under bench/out/, and `python -m bench.report` gathers them into bench/RESULTS.md.

Not part of the wheel (pyproject.toml ships `visord*` only): the benchmarks are built on the
package's own harness, `visord.testing`, and `bench.harness` holds what only they share.
"""
