#!/bin/sh
# tools/check_valgrind.sh — the CLI end to end under valgrind memcheck: help/version/info, tutorial, synth → split →
# enhance (cohort and one image) → train (DenseNet121, 32×32, 1 epoch) → predict → metrics → calibrate fit/apply →
# inspect, selftest (one op), plus failing commands (bad inputs: the error paths must free what they allocated
# too). Every command must give "ERROR SUMMARY: 0 errors" and 0 bytes "definitely lost" / "indirectly lost"
# (--errors-for-leak-kinds makes a leak an error). Prints one line per command with its still-reachable bytes; exit 1 on any finding.
# Uses BLASTO_BUILD (default <repo>/build)/blasto. Results of record: docs/reliability.md.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
blasto=${BLASTO_BUILD:-$root/build}/blasto
command -v valgrind >/dev/null 2>&1 || { echo "skipped: valgrind not installed"; exit 77; }
[ -x "$blasto" ] || { echo "check_valgrind: $blasto not built"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/blasto_valgrind_XXXXXX")
cd "$work" || exit 2
status=0 n=0
vg() { # vg EXPECTED_EXIT ARGS...
  want=$1
  shift
  n=$((n + 1))
  log=vg.$n.log
  valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=no --log-file="$log" \
    "$blasto" "$@" >out.$n.txt 2>err.$n.txt
  rc=$?
  errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
  definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
  indirect=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
  reachable=$(sed -n 's/.*still reachable: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 bytes in \2 blocks/p' "$log" | tail -1)
  [ -n "$reachable" ] || reachable="0 bytes"
  verdict=ok
  if [ "$rc" = 99 ] || [ "${errors:-x}" != 0 ] || [ "${definite:-0}" != 0 ] || [ "${indirect:-0}" != 0 ]; then
    verdict=FAIL
  elif [ "$rc" != "$want" ]; then
    verdict="FAIL (exit $rc, expected $want)"
  fi
  [ "$verdict" = ok ] || status=1
  printf '%-5s errors %s, definitely lost %s, indirectly lost %s, still reachable %s: blasto %s\n' \
    "$verdict" "${errors:-?}" "${definite:-0}" "${indirect:-0}" "$reachable" "$*"
  [ "$verdict" = ok ] || { sed -n '1,60p' "$log"; cat err.$n.txt; }
}
vg 0 --help
vg 0 --version
vg 0 info
vg 0 tutorial --steps 3
vg 0 synth --out c --n 10 --size 64 --seed 4 --quiet
vg 0 split --cohort c/cohort.csv --test-count 2 --folds 2 --out split.csv
vg 0 enhance --cohort c/cohort.csv --out e --threads 2
vg 0 enhance --image c/images/synth_0001.png --annotation c/annotations/synth_0001.json --out one.png --masks-out m
vg 0 train --cohort c/cohort.csv --split split.csv --fold 0 --out run --arch densenet121 --size 32 --batch 4 \
  --epochs 1 --threads 2
vg 0 predict --model run/best.safetensors --cohort c/cohort.csv --split split.csv --set test --out p.csv
vg 0 metrics --predictions run/validation.csv --out m.json
vg 0 calibrate fit --predictions run/validation.csv --out iso.json
vg 0 calibrate apply --model iso.json --predictions p.csv --out pc.csv
vg 0 inspect run/best.safetensors
vg 0 selftest --op linear
# error paths
printf 'id,label,score\na,1,nan\n' >bad.csv
vg 1 metrics --predictions bad.csv --out m2.json
vg 1 enhance --cohort nope.csv --out e2
printf 'id,image,annotation,age,clinic,label\nx,c/images/synth_0001.png,c/annotations/synth_0001.json,34,A,1\nx,a.png,a.json,3,A,0\n' >dup.csv
vg 1 enhance --cohort dup.csv --out e3
head -c 1000 run/best.safetensors >trunc.safetensors
vg 1 inspect trunc.safetensors
vg 1 selftest --golden trunc.safetensors
vg 1 predict --model run/best.safetensors --arch resnet50 --cohort c/cohort.csv --out p2.csv
vg 2 split --cohort c/cohort.csv --test-count two --out s2.csv
echo "check_valgrind: $n commands, $([ $status = 0 ] && echo 'all clean' || echo 'FINDINGS above') (logs in $work)"
[ $status = 0 ] && rm -rf "$work"
exit $status
