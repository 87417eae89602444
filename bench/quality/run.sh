#!/usr/bin/env bash
# Quality benchmark on real changes: fetch the pinned changes (fetch.py), summarize each with
# `precis summarize --patch`, then score with metrics.py (the metric definitions; claim labels from labels.jsonl) and score.py.
#   bench/quality/run.sh [--precis BIN] [--out DIR] [--work DIR] [--only NAME[,NAME…]] [extra precis args…]
# e.g. bench/quality/run.sh --model qwen2.5-coder-1.5b-instruct --no-cache
# BIN defaults to target/release/precis (build it first), else `precis` on PATH; DIR to
# target/bench-quality. OUT/changes holds the patches scored, OUT/json the outputs, OUT/logs
# each run's stderr, OUT/quality.txt and OUT/score.md the two reports. Exits with
# metrics.py's status: 0 when every goal of its last line is met.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
precis=""
out="$repo/target/bench-quality"
work="${PRECIS_BENCH_QUALITY:-$HOME/.cache/precis/bench-quality}"
only=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --precis) precis="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done
if [ -z "$precis" ]; then
  if [ -x "$repo/target/release/precis" ]; then precis="$repo/target/release/precis"
  elif command -v precis >/dev/null; then precis=$(command -v precis)
  else echo "no precis binary: run 'cargo build --release' or pass --precis BIN" >&2; exit 2; fi
fi
precis=$(cd "$(dirname "$precis")" && pwd)/$(basename "$precis")
mkdir -p "$out"
out=$(cd "$out" && pwd)


echo "== fetch (work folder $work)"
python3 "$here/fetch.py" --work "$work" --out "$work/changes" >"$out/fetch.md"
tail -n 1 "$out/fetch.md"

rm -rf "$out/changes" "$out/json" "$out/logs"
mkdir -p "$out/changes" "$out/json" "$out/logs"
for patch in "$work/changes"/*.patch; do
  name=$(basename "$patch" .patch)
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  cp "$patch" "$work/changes/$name.msg" "$out/changes/"
done

echo "== summarize with $precis ${extra[*]:-}"
failed=0
start=$(date +%s)
for patch in "$out/changes"/*.patch; do
  name=$(basename "$patch" .patch)
  t0=$(date +%s)
  # Run outside any repository so that no .github/precis.yml settings apply.
  if (cd "$out" && "$precis" summarize --patch "$patch" --format json --output "$out/json/$name.json" "${extra[@]}") \
      2>"$out/logs/$name.log"; then
    echo "$name: $(( $(date +%s) - t0 )) s"
  else
    failed=$((failed + 1))
    rm -f "$out/json/$name.json"
    echo "$name: FAILED after $(( $(date +%s) - t0 )) s (see $out/logs/$name.log)"
  fi
done
echo "summarized in $(( $(date +%s) - start )) s, $failed failed"

echo "== metrics.py"
rc=0
python3 "$here/metrics.py" "$out/changes" "$out/json" --labels "$here/labels.jsonl" --unlabelled "$out/unlabelled.jsonl" \
  | tee "$out/quality.txt" || rc=$?
echo "== score.py"
python3 "$here/score.py" "$out/changes" "$out/json" --json "$out/score.json" | tee "$out/score.md"
exit $rc
