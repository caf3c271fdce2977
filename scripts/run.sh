#!/usr/bin/env bash
# The main job (make run): the compute-optimal experiment on the bundled
# models and benchmark, demo preset. Resumable: rerun to continue.
set -eu
build=${1:-build}
out=${TTC_RUN_OUT:-results/demo}
for m in models/generator.gguf models/prm.gguf; do
  if [ ! -f "$m" ]; then
    echo "make run: $m is missing; build the bundled models with 'make models'" >&2
    exit 1
  fi
done
# The bundled generators were exported before models recorded
# ttc.train.tokens: their 1400 steps x 16 rows x 272 tokens (models/*.md) are
# given here for the FLOPs-matched figure; a model file with the key wins.
exec "$build/ttc" experiment --preset demo -o "$out" --train-tokens 6092800,6092800 ${TTC_RUN_ARGS:-}
