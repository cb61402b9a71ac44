#!/bin/sh
# replay_all.sh BINDIR SRCDIR NAME... — replays tests/fuzz/seeds/<NAME> and tests/fuzz/regressions/<NAME> (every file,
# the crashes fuzzing found, each fixed) through BINDIR/fuzz_replay_NAME. Fails when any replay crashes or reports.
bindir=$1 srcdir=$2
shift 2
status=0
for name in "$@"; do
  dirs=""
  for d in "$srcdir/seeds/$name" "$srcdir/regressions/$name"; do
    [ -d "$d" ] && dirs="$dirs $d"
  done
  [ -n "$dirs" ] || { echo "fuzz_$name: no seeds or regressions"; status=1; continue; }
  # shellcheck disable=SC2086
  "$bindir/fuzz_replay_$name" $dirs || { echo "FAILED: fuzz_$name"; status=1; }
done
exit $status
