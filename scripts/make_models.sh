#!/usr/bin/env bash
# Builds ttc's bundled models, trained by ttc itself on 2 CPU cores.
#   scripts/make_models.sh BUILD_DIR        (make models calls it)
# Every step is skipped when its output exists; training steps checkpoint
# into $WORK and resume exactly when re-run after an interruption.
#
#   1. generator     SFT on data/synth/train.jsonl; trains the shared BPE
#                    vocabulary (every later model reuses it via --vocab/--init)
#   2. eval          per-level pass@1 of the generator on the test split
#   3. prm           Monte-Carlo step labels from the generator's own samples
#                    (`ttc label prm`: JSONL of problem, steps, soft labels, see
#                    train/prm.h), then the generator fine-tuned as a PRM
#   4. revision      `ttc label revision --edit` (0..4 sampled attempts -> the
#                    right one kept, else the closest correct solution) -> SFT
#                    of the revision model from the generator, then rounds of
#                    `--on-policy` data from its own chains (and a 1024 context)
#   5. orm           `ttc label orm` on revision chains -> --task orm
#   6. large         the same SFT recipe on a 9.2x larger generator, exported
#                    as q8_0 (FLOPs-matched comparison of the experiment)
set -euo pipefail
BUILD=${1:-build}
WORK=${WORK:-$BUILD/models-work}
THREADS=${THREADS:-2}
mkdir -p models "$WORK"
# run a private copy of the binary: rebuilding the tree during a long run
# must not change (or fail to replace) the executable in use
TTC="$WORK/ttc"
cp "$BUILD/ttc" "$TTC.new" && mv "$TTC.new" "$TTC"

step() { echo "== $(date -u +%H:%M:%S) $*"; }

# 1. generator: 1.2 M params (dim 128, 5 layers, 2 heads of 64, SwiGLU 384):
#    about compute-optimal (20 tokens per parameter) for the ~40 TFLOP a
#    shared 2-core machine gives in an hour. Rows of 272 tokens (the longest
#    problem + solution is 259) pack ~2 problems each; 16 rows (4352 tokens)
#    per step, 1400 steps = 6.1 M tokens (~0.95 epoch of the 50k problems).
#    (The bundled run was started with --steps 700 and extended to 1400 at
#    step 450, when the model had the format but not yet the arithmetic;
#    from there the cosine schedule is the 1400-step one.)
if [ ! -f models/generator.gguf ]; then
  step "training models/generator.gguf"
  "$TTC" train --task sft --data data/synth/train.jsonl --out models/generator.gguf \
    --train-tokenizer 768 --dim 128 --layers 5 --heads 2 --ff 384 --ctx 512 --seq 272 \
    --steps 1400 --batch 16 --lr 3e-3 --min-lr 0.1 --warmup 100 --wd 0.1 --clip 1.0 \
    --seed 1 --threads "$THREADS" --type f16 --name ttc-generator \
    --checkpoint "$WORK/generator.ckpt" --ckpt-every 50 --resume
fi

# 2. per-level pass@1 of the generator on the 1000 test problems (2 samples
#    each at temperature 0.8)
if [ ! -f models/generator.eval.json ] && "$TTC" eval --help >/dev/null 2>&1; then
  step "evaluating models/generator.gguf"
  "$TTC" eval -m models/generator.gguf --data data/synth/test.jsonl --samples 2 --temp 0.8 \
    --max-tokens 320 --threads "$THREADS" --json > "$WORK/generator.eval.json" &&
    mv "$WORK/generator.eval.json" models/generator.eval.json ||
    echo "eval failed (see above); skipping"
fi

# 3. PRM: 1500 training problems x 2 sampled solutions (labelled in two runs,
#    300 then 1200 problems), 4 rollouts after every step (the fraction that
#    reach the right answer is the step's soft label); 50 held-out problems
#    for validation. Then --init from the generator and train on the "+"/"-"
#    logits at the <|step|> tags.
label_prm() {  # OUT OFFSET LIMIT SEED
  "$TTC" label prm -m models/generator.gguf --data data/synth/train.jsonl -o "$1" \
    --offset "$2" --limit "$3" --samples 2 --rollouts 4 --temp 1.0 --max-tokens 320 \
    --seed "$4" -t "$THREADS"
}
if [ ! -f models/prm.gguf ]; then
  if [ ! -f "$WORK/prm.labels.done" ]; then
    step "labelling PRM data"
    label_prm "$WORK/prm.jsonl" 40000 300 2
    label_prm "$WORK/prm.more.jsonl" 40300 1200 4
    label_prm "$WORK/prm.val.jsonl" 45000 50 3
    cat "$WORK/prm.jsonl" "$WORK/prm.more.jsonl" > "$WORK/prm.all.jsonl"
    touch "$WORK/prm.labels.done"
  fi
  step "training models/prm.gguf"
  "$TTC" train --task prm --data "$WORK/prm.all.jsonl" --init models/generator.gguf \
    --out models/prm.gguf --steps 400 --batch 16 --seq 272 --lr 1e-3 --min-lr 0.1 \
    --warmup 20 --wd 0.1 --seed 1 --threads "$THREADS" --type f16 --name ttc-prm \
    --checkpoint "$WORK/prm.ckpt" --ckpt-every 50 --resume --val "$WORK/prm.val.jsonl"
fi

# held-out PRM quality: step-level AUC and calibration on the val labels
if [ -f "$WORK/prm.val.jsonl" ] && [ ! -f models/prm.quality.json ]; then
  "$TTC" label quality -m models/prm.gguf --data "$WORK/prm.val.jsonl" --json -t "$THREADS" \
    > "$WORK/prm.quality.json" && mv "$WORK/prm.quality.json" models/prm.quality.json
fi

# 4. revision model, in rounds (models/revision.md):
#    r0  off-policy keep-or-fix: 3000 training problems x 8 generator
#        attempts; three examples each: 0..4 of the attempts as sampled, then
#        the most recent right one verbatim, else the correct solution closest
#        to the last attempt by edit distance (60 % of those "fix" examples
#        left out). SFT from the generator.
#    r1  on-policy: the model's own chains (first attempt at 0.8, revisions
#        greedy) on 3000 new problems; each example is one of its contexts,
#        then keep (the most recent right attempt) or fix (the closest
#        correct solution). Fine-tune.
#    r2  the context grown from 512 to 1024 tokens (r1's and r0's data), so
#        a revision sees up to 4 earlier attempts instead of about one.
#    r3  on-policy again on 4000 new problems (half with greedy revisions,
#        half at 0.4), then r4 and r5 once more on 2000 each (greedy; r5 with
#        chains of 6, so the oldest attempt drops out of the context).
#    r6  on-policy with sampled revisions (0.8) on 3000 new problems, so the
#        contexts hold different attempts to compare (600 steps).
#    r7  on-policy with greedy revisions, the test-time setting, on 2000 new
#        problems, half the "fix" examples left out: models/revision.gguf.
if [ ! -f models/revision.gguf ]; then
  if [ ! -f "$WORK/revision.labels.done" ]; then
    step "building revision data (r0)"
    "$TTC" label revision -m models/generator.gguf --data data/synth/train.jsonl \
      -o "$WORK/revision.jsonl" --offset 20000 --limit 3000 --samples 8 --examples 3 \
      --edit 1 --drop-fix 0.6 --temp 1.0 --max-tokens 320 --seed 11 -t "$THREADS"
    touch "$WORK/revision.labels.done"
  fi
  # sft_round OUT INIT DATA STEPS BATCH SEQ LR [extra train args]
  sft_round() {
    local out=$1 init=$2 data=$3 steps=$4 batch=$5 seq=$6 lr=$7
    shift 7
    [ -f "$out" ] && return 0
    step "training $out"
    "$TTC" train --task sft --data "$data" --init "$init" --out "$out.tmp.gguf" --steps "$steps" \
      --batch "$batch" --seq "$seq" --lr "$lr" --min-lr 0.1 --warmup 20 --wd 0.1 --seed 1 \
      --threads "$THREADS" --type f16 --name ttc-revision --checkpoint "$out.ckpt" --ckpt-every 50 \
      --resume --log "$out.log" "$@"
    mv "$out.tmp.gguf" "$out"
  }
  # on_policy MODEL OUT OFFSET LIMIT CHAIN REVISE_TEMP SEED [extra label args]
  on_policy() {
    [ -f "$2.done" ] && return 0
    step "on-policy revision data from $1 -> $2"
    local model=$1 out=$2 offset=$3 limit=$4 chain=$5 rtemp=$6 seed=$7
    shift 7
    "$TTC" label revision --on-policy -m "$model" --data data/synth/train.jsonl -o "$out" \
      --offset "$offset" --limit "$limit" --samples 4 --chain "$chain" --examples 6 --temp 0.8 \
      --revise-temp "$rtemp" --max-tokens 320 --seed "$seed" -t "$THREADS" "$@"
    touch "$out.done"
  }
  sft_round "$WORK/revision-r0.gguf" models/generator.gguf "$WORK/revision.jsonl" 600 16 512 1e-3
  on_policy "$WORK/revision-r0.gguf" "$WORK/revision-onp1.jsonl" 23000 3000 4 0 21
  sft_round "$WORK/revision-r1.gguf" "$WORK/revision-r0.gguf" "$WORK/revision-onp1.jsonl" 400 16 512 5e-4
  [ -f "$WORK/revision-mix.jsonl" ] || cat "$WORK/revision-onp1.jsonl" "$WORK/revision.jsonl" > "$WORK/revision-mix.jsonl"
  sft_round "$WORK/revision-r2.gguf" "$WORK/revision-r1.gguf" "$WORK/revision-mix.jsonl" 300 8 1024 5e-4 --ctx 1024
  on_policy "$WORK/revision-r2.gguf" "$WORK/revision-onp2g.jsonl" 26000 2000 5 0 31
  on_policy "$WORK/revision-r2.gguf" "$WORK/revision-onp2s.jsonl" 28000 2000 5 0.4 32
  [ -f "$WORK/revision-onp2.jsonl" ] || cat "$WORK/revision-onp2g.jsonl" "$WORK/revision-onp2s.jsonl" > "$WORK/revision-onp2.jsonl"
  sft_round "$WORK/revision-r3.gguf" "$WORK/revision-r2.gguf" "$WORK/revision-onp2.jsonl" 400 8 1024 5e-4
  on_policy "$WORK/revision-r3.gguf" "$WORK/revision-onp3.jsonl" 30000 2000 5 0 41
  sft_round "$WORK/revision-r4.gguf" "$WORK/revision-r3.gguf" "$WORK/revision-onp3.jsonl" 400 8 1024 5e-4
  on_policy "$WORK/revision-r4.gguf" "$WORK/revision-onp4.jsonl" 34000 2000 6 0 51
  sft_round "$WORK/revision-r5.gguf" "$WORK/revision-r4.gguf" "$WORK/revision-onp4.jsonl" 400 8 1024 5e-4
  on_policy "$WORK/revision-r5.gguf" "$WORK/revision-onp5.jsonl" 36000 3000 6 0.8 61
  sft_round "$WORK/revision-r6.gguf" "$WORK/revision-r5.gguf" "$WORK/revision-onp5.jsonl" 600 8 1024 5e-4
  on_policy "$WORK/revision-r6.gguf" "$WORK/revision-onp6.jsonl" 46000 2000 6 0 71 --drop-fix 0.5
  sft_round "$WORK/revision-r7.gguf" "$WORK/revision-r6.gguf" "$WORK/revision-onp6.jsonl" 400 8 1024 5e-4
  cp "$WORK/revision-r7.gguf" models/revision.gguf
  for r in 0 1 2 3 4 5 6 7; do echo "# round r$r"; cat "$WORK/revision-r$r.gguf.log"; done > models/revision.log
fi

# 5. ORM for revisions: chains of 5 attempts of the revision model as the
#    experiment runs them (first attempt at 0.8, revisions greedy), each
#    graded and read after the attempts its prompt held (ttc label orm).
#    400 training problems x 4 chains for training; 200 validation problems
#    x 2 chains held out for the ORM's AUC. A 1024-token context, as the
#    revision model's: the ORM reads up to 4 earlier attempts too.
if [ ! -f models/orm.gguf ]; then
  if [ ! -f "$WORK/orm.labels.done" ]; then
    step "building ORM data"
    "$TTC" label orm -m models/revision.gguf --data data/synth/train.jsonl \
      -o "$WORK/orm.jsonl" --offset 32000 --limit 400 --samples 4 --chain 5 --temp 0.8 \
      --revise-temp 0 --max-tokens 200 --seed 4 -t "$THREADS"
    "$TTC" label orm -m models/revision.gguf --data data/synth/val.jsonl \
      -o "$WORK/orm.val.jsonl" --limit 200 --samples 2 --chain 5 --temp 0.8 \
      --revise-temp 0 --max-tokens 200 --seed 5 -t "$THREADS"
    touch "$WORK/orm.labels.done"
  fi
  step "training models/orm.gguf"
  "$TTC" train --task orm --data "$WORK/orm.jsonl" --init models/generator.gguf --ctx 1024 \
    --out models/orm.gguf --steps 300 --batch 8 --seq 1024 --lr 1e-3 --min-lr 0.1 \
    --warmup 12 --wd 0.1 --seed 1 --threads "$THREADS" --type f16 --name ttc-orm \
    --checkpoint "$WORK/orm.ckpt" --ckpt-every 50 --resume --log "$WORK/orm.log" \
    --val "$WORK/orm.val.jsonl"
fi
if [ -f "$WORK/orm.val.jsonl" ] && [ ! -f models/orm.quality.json ]; then
  "$TTC" label quality -m models/orm.gguf --data "$WORK/orm.val.jsonl" --json -t "$THREADS" \
    > "$WORK/orm.quality.json" && mv "$WORK/orm.quality.json" models/orm.quality.json
fi

# 6. larger generator: 10.97 M params (dim 320, 8 layers, 5 heads of 64,
#    SwiGLU 960), 9.2x the generator, same data, vocabulary, rows, batch and
#    steps (6.09 M tokens); peak lr 2e-3 instead of 3e-3, the usual step down
#    for a wider model. q8_0 keeps the file at ~12 MB.
if [ ! -f models/generator-large.gguf ]; then
  step "training models/generator-large.gguf"
  "$TTC" train --task sft --data data/synth/train.jsonl --out models/generator-large.gguf \
    --vocab models/generator.gguf --dim 320 --layers 8 --heads 5 --ff 960 --ctx 512 --seq 272 \
    --steps 1400 --batch 16 --lr 2e-3 --min-lr 0.1 --warmup 100 --wd 0.1 --clip 1.0 \
    --seed 1 --threads "$THREADS" --type q8_0 --name ttc-generator-large \
    --checkpoint "$WORK/generator-large.ckpt" --ckpt-every 50 --resume \
    --log "$WORK/generator-large.log" --val data/synth/val.jsonl
fi
if [ -f models/generator-large.gguf ] && [ ! -f models/generator-large.eval.json ]; then
  step "evaluating models/generator-large.gguf"
  "$TTC" eval -m models/generator-large.gguf --data data/synth/test.jsonl --samples 2 --temp 0.8 \
    --max-tokens 320 --threads "$THREADS" --json > "$WORK/generator-large.eval.json" &&
    mv "$WORK/generator-large.eval.json" models/generator-large.eval.json ||
    echo "eval failed (see above); skipping"
fi

step "done"
