#!/usr/bin/env bash
# check_paths.sh SOURCE_DIR — every repository path named in the code, the scripts and the docs exists.
#
# A path is a word starting with one of the top-level folders (core/ cuda/ layers/ models/ tools/ tests/ docs/
# cmake/ .ci/), not preceded by a letter, digit, '/', '.' or '-' (so ggml/tests/… is someone else's). Brace
# alternatives expand (tools/study/csv.{h,c} → both), a '*' must match at least one file, and a path holding a
# placeholder (<op>, …) or a build-tree location (build/, $BUILD) is skipped. Prints each missing path with the file
# and line that names it; exit 1 when any is missing.
set -uo pipefail
cd "$1" || exit 2
shopt -s nullglob
missing=0 checked=0
while IFS= read -r -d '' file; do
  while IFS=: read -r line token; do
    token=${token%%[.,;:)\`\'\"]}          # sentence punctuation after a path
    token=${token%%[.,;:)\`\'\"]}
    case "$token" in *'<'*|*'>'*|*'$'*|*'...'*|*'…'*) continue ;; esac
    # brace alternatives: a{b,c}d → abd acd (one level, as the docs write them)
    if [[ "$token" =~ ^(.*)\{([^}]*)\}(.*)$ ]]; then
      IFS=, read -r -a alts <<< "${BASH_REMATCH[2]}"
      candidates=()
      for a in "${alts[@]}"; do candidates+=("${BASH_REMATCH[1]}$a${BASH_REMATCH[3]}"); done
    else
      candidates=("$token")
    fi
    for c in "${candidates[@]}"; do
      checked=$((checked + 1))
      if [[ "$c" == *'*'* ]]; then
        matches=($c)
        [ ${#matches[@]} -gt 0 ] && continue
      elif [ -e "$c" ]; then
        continue
      fi
      echo "check_paths: $file:$line: names $c, which does not exist"
      missing=$((missing + 1))
    done
  done < <(grep -noP '(?<![A-Za-z0-9_/.\-])(core|cuda|layers|models|tools|tests|docs|cmake|\.ci)/[A-Za-z0-9_./*{},<>\-]*[A-Za-z0-9_*}>]' "$file")
done < <(find . -path ./.git -prune -o -path './build*' -prune -o -path ./tests/golden -prune -o -path ./tests/fuzz/seeds -prune -o -path ./tests/fuzz/regressions -prune -o \
           -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.md' -o -name '*.sh' -o -name '*.py' \
           -o -name 'CMakeLists.txt' -o -name '*.cmake.in' -o -name 'run' \) -print0)
echo "check_paths: $checked paths named, $missing missing"
[ "$missing" -eq 0 ]
