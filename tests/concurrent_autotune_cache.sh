#!/usr/bin/env bash
# Several processes, each with two threads, autotune the same problems into one VCONV_CACHE file
# at once. Afterwards the file must hold the header and exactly one well-formed line per entry
# (appending writers would leave duplicate headers and entries, or torn lines), and loading it
# again must warn about nothing. Usage: concurrent_autotune_cache.sh WRITER WORK_DIR
set -euo pipefail
writer=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
export VCONV_CACHE=$dir/cache.txt
pids=()
for i in 1 2 3 4; do
  "$writer" >"$dir/out$i.txt" 2>"$dir/err$i.txt" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
entries=$(awk '{print $1}' "$dir/out1.txt")
if [ "$(head -n 1 "$VCONV_CACHE")" != "vconv-autotune v2" ]; then
  echo "FAIL: first line is '$(head -n 1 "$VCONV_CACHE")'"; exit 1
fi
lines=$(tail -n +2 "$VCONV_CACHE" | wc -l)
well_formed=$(tail -n +2 "$VCONV_CACHE" | awk -F'\t' 'NF == 4' | sort -u | wc -l)
if [ "$lines" != "$entries" ] || [ "$well_formed" != "$entries" ]; then
  echo "FAIL: $lines lines, $well_formed distinct well-formed, expected $entries:"
  cat "$VCONV_CACHE"; exit 1
fi
# Every entry readable: a run over the same problems finds them all, with no warning.
"$writer" >/dev/null 2>"$dir/reload_err.txt"
if [ -s "$dir/reload_err.txt" ]; then echo "FAIL: reloading warned:"; cat "$dir/reload_err.txt"; exit 1; fi
if ls "$dir"/cache.txt.?????? >/dev/null 2>&1; then echo "FAIL: temporary files left"; exit 1; fi
echo "PASS: $entries entries from 4 processes x 2 threads"
