#!/usr/bin/env bash
# Check that the project's own C/C++ sources (every tracked *.cpp, *.hpp, *.h, *.cc: src,
# include, tests, tools) follow .clang-format; fails naming the files that do not.
#   usage: bash scripts/check-format.sh [--fix]   (--fix rewrites them in place)
# CLANG_FORMAT=... picks the binary (default clang-format: Debian 12's clang-format 14; other
# versions may format a few constructs differently).
set -euo pipefail
fix=0
for a in "$@"; do
  case "$a" in
    --fix) fix=1 ;;
    *) echo "check-format: unknown argument $a (usage: check-format.sh [--fix])" >&2; exit 2 ;;
  esac
done
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
clang_format="${CLANG_FORMAT:-clang-format}"
command -v "$clang_format" >/dev/null || {
  echo "check-format: $clang_format not found; run bash scripts/setup.sh --tests" >&2
  exit 1
}
mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc')
((${#files[@]})) || { echo "check-format: no tracked C++ sources found" >&2; exit 1; }

if [ "$fix" = 1 ]; then
  "$clang_format" -i "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$clang_format" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "check-format: not formatted per .clang-format ($("$clang_format" --version | head -1)):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "check-format: run bash scripts/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
