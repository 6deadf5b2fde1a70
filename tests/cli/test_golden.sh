#!/usr/bin/env bash
# The CLI's outputs (alerts, ECS documents, summaries, exit codes, ...) are byte-identical to
# those recorded in tests/golden/expected/ before the engine moved into libkad (issue 12):
# tests/golden/golden.sh compare. After an intended change of output, rerun it with `record`
# and review the diff.
exec bash tests/golden/golden.sh compare
