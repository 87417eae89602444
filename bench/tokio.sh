#!/usr/bin/env bash
# Whole-codebase benchmark: precis summarize on the tokio crate's source as
# cargo downloads it (tokio 1.54.1, ~156k lines), 300-line chunks.
# Runs folder by folder (each prints its stats line; answers go to one
# summary cache), then the whole crate, whose chunks are then cached and only
# the file and overall levels run. Rerunning resumes from the cache.
#   bench/tokio.sh [OUT_DIR] [extra precis summarize options]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-tokio}"; shift || true
mkdir -p "$out"
version=1.54.1
fetch="$out/fetch"
mkdir -p "$fetch/src"
printf '[package]\nname = "fetch-tokio"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\ntokio = { version = "=%s", features = ["full"] }\n' "$version" > "$fetch/Cargo.toml"
: > "$fetch/src/lib.rs"
cargo fetch -q --manifest-path "$fetch/Cargo.toml"
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/tokio-$version | head -1)
echo "tokio source: $src ($(find "$src" -type f | xargs cat | wc -l) lines in $(find "$src" -type f | wc -l) files)"
cargo build --release -q
precis=target/release/precis
cache="$out/summary-cache"
for part in src/time src/signal src/process src/fs src/macros src/loom src/doc src/future src/task src/util src/io src/net src/sync src/runtime; do
  printf 'include: ["%s/**"]\n' "$part" > "$out/part.yml"
  echo "== $part"
  "$precis" summarize "$src" --config "$out/part.yml" --summary-cache "$cache" --format json --output "$out/$(basename "$part").json" "$@" 2>&1 | tail -1
done
echo "== whole crate"
"$precis" summarize "$src" --summary-cache "$cache" --format json --output "$out/tokio.json" "$@" 2>&1 | tail -1
"$precis" summarize "$src" --summary-cache "$cache" --output "$out/tokio.md" "$@" 2>/dev/null
