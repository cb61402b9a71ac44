#!/bin/sh
# tools/pcrm_cohort.sh DATA_DIR OUT.csv — the segmentation cohort of the PCRM/SFU blastocyst images
# (DATA_DIR = ../shared/data/pcrm-blastocyst, described by its SOURCE.md): one row per image that has ICM/TE
# annotations (labels.csv: has_image = has_polygons = 1; 109 rows), with
#   image       DATA_DIR/images/<name>.jpg
#   annotation  DATA_DIR/masks/icm/<name>.png|DATA_DIR/masks/te_region/<name>.png   (the recommended TE mask)
#   age, clinic empty; label 0 on every row — a placeholder the segmenter does not read (the implantation outcome
#   is in labels.csv and is unknown for 47 of these images).
# Paths are absolute, so OUT.csv may live anywhere. docs/segmentation.md ("The PCRM images") uses it.
set -eu
[ $# -eq 2 ] || { echo "usage: tools/pcrm_cohort.sh DATA_DIR OUT.csv" >&2; exit 2; }
data=$(cd "$1" && pwd)
[ -f "$data/labels.csv" ] || { echo "pcrm_cohort: $data/labels.csv: missing" >&2; exit 1; }
tmp="$2.tmp.$$"
{
  echo "id,image,annotation,age,clinic,label"
  awk -F, -v d="$data" 'NR == 1 {
      for (i = 1; i <= NF; i++) col[$i] = i
      if (!("file_name" in col) || !("has_image" in col) || !("has_polygons" in col)) {
        print "pcrm_cohort: labels.csv: expected columns file_name, has_image, has_polygons" > "/dev/stderr"; exit 1
      }
      next
    }
    $col["has_image"] == 1 && $col["has_polygons"] == 1 {
      n = $col["file_name"]
      printf "%s,%s/images/%s.jpg,%s/masks/icm/%s.png|%s/masks/te_region/%s.png,,,0\n", n, d, n, d, n, d, n
    }' "$data/labels.csv"
} > "$tmp"
rows=$(($(wc -l < "$tmp") - 1))
[ "$rows" -gt 0 ] || { rm -f "$tmp"; echo "pcrm_cohort: no annotated images in $data/labels.csv" >&2; exit 1; }
mv "$tmp" "$2"
echo "pcrm_cohort: $rows annotated images -> $2"
