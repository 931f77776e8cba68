#!/usr/bin/env bash
# Fails when a tracked C++ file is not clang-formatted (`make format` fixes it).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 77; }
bad=()
while IFS= read -r f; do
  [[ -f "$f" ]] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.cc' '*.h' 2>/dev/null)
if ((${#bad[@]})); then
  printf 'not clang-formatted: %s\n' "${bad[@]}"
  exit 1
fi
echo "format: all files clang-formatted"
