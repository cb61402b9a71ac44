#!/bin/sh
# tools/pcrm_segment_cv.sh DATA_DIR WORK_DIR [train options] — 5-fold cross-validation of the ICM/TE segmenter on
# the PCRM images (docs/segmentation.md, "The PCRM images"). DATA_DIR is ../shared/data/pcrm-blastocyst.
#   WORK_DIR/cohort.csv, split.csv         tools/pcrm_cohort.sh, then `blasto split --test-count 0 --folds 5`
#   WORK_DIR/fold<k>/run, pred, m.json     segment train on the other folds, predict fold k, metrics of fold k
#   WORK_DIR/all/ and all.json             every image predicted by the model that did not train on it, scored
#   WORK_DIR/times.txt                     seconds per fold and in all
# A fold whose m.json exists is kept, so an interrupted run continues where it stopped.
# Extra arguments go to `blasto segment train` (default: --size 256 --epochs 50 --batch 4 --lr 2e-3). Uses the
# blasto on PATH, or BLASTO=/path/to/blasto.
set -eu
[ $# -ge 2 ] || { echo "usage: tools/pcrm_segment_cv.sh DATA_DIR WORK_DIR [segment train options]" >&2; exit 2; }
data=$1
work=$2
shift 2
blasto=${BLASTO:-blasto}
here=$(cd "$(dirname "$0")" && pwd)
opts=${*:-"--size 256 --epochs 50 --batch 4 --lr 2e-3"}
mkdir -p "$work"
cd "$work"
"$here/pcrm_cohort.sh" "$data" cohort.csv
"$blasto" split --cohort cohort.csv --test-count 0 --folds 5 --seed 1 --out split.csv > /dev/null
start=$(date +%s)
touch times.txt
for k in 0 1 2 3 4; do
  [ -f "fold$k/m.json" ] && continue
  t0=$(date +%s)
  rm -rf "fold$k"
  mkdir "fold$k"
  # shellcheck disable=SC2086
  "$blasto" segment train --cohort cohort.csv --split split.csv --fold "$k" --out "fold$k/run" $opts
  "$blasto" segment predict --model "fold$k/run/best.safetensors" --cohort cohort.csv --split split.csv \
    --set validation --fold "$k" --out "fold$k/pred"
  "$blasto" segment metrics --pred "fold$k/pred" --cohort cohort.csv --out "fold$k/m.json"
  echo "fold $k: $(($(date +%s) - t0)) s" >> times.txt
done
rm -rf all
mkdir -p all/icm all/te
head -n 1 fold0/pred/cohort.csv > all/cohort.csv
for k in 0 1 2 3 4; do
  cp "fold$k"/pred/icm/*.png all/icm/
  cp "fold$k"/pred/te/*.png all/te/
  tail -n +2 "fold$k/pred/cohort.csv" >> all/cohort.csv
done
"$blasto" segment metrics --pred all --cohort cohort.csv --out all.json
echo "this invocation: $(($(date +%s) - start)) s" >> times.txt
cat times.txt
