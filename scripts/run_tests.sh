#!/usr/bin/env bash
# Runs every Criterion test binary given, from the project root, and closes
# with one line "N passed, N failed" summed over all of them. A binary that
# crashes or prints no synthesis line counts as one failure.
set -u
build=$1; shift
export TTC_BIN="$PWD/$build/ttc" TTC_SHARED="${TTC_SHARED:-$PWD/../shared}"
pass=0; fail=0; bad=""
for t in "$@"; do
  log=$(mktemp)
  "$t" --jobs 2 2>&1 | tee "$log" | grep -E 'Assertion|FAIL|fail|Crash|Synthesis|Warning' | grep -v '^\[====\] Synthesis: Tested: [0-9]* | Passing: [0-9]* | Failing: 0 | Crashing: 0' || true
  rc=${PIPESTATUS[0]}
  line=$(grep -a 'Synthesis:' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$t: no synthesis line (rc=$rc)"; tail -n 20 "$log"; fail=$((fail+1)); bad="$bad $t"
  else
    p=$(echo "$line" | sed -E 's/.*Passing: ([0-9]+).*/\1/')
    f=$(echo "$line" | sed -E 's/.*Failing: ([0-9]+).*/\1/')
    c=$(echo "$line" | sed -E 's/.*Crashing: ([0-9]+).*/\1/')
    pass=$((pass+p)); fail=$((fail+f+c))
    [ "$f" != 0 -o "$c" != 0 -o "$rc" != 0 ] && bad="$bad $t"
    [ "$rc" != 0 -a "$f" = 0 -a "$c" = 0 ] && { echo "$t: exit $rc"; fail=$((fail+1)); }
    echo "$(basename "$t"): $p passed, $((f+c)) failed"
  fi
  rm -f "$log"
done
[ -n "$bad" ] && echo "failing:$bad"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
