/* report.h — one self-contained HTML report of an experiment directory (docs/experiment.md, "Report").
 *
 * bl_report_write reads whatever the run directory has and renders, in this order, one <section> per part with a
 * fixed id:
 *   #meta         run.json: version, build, backend, device, threads, seed, timings, weights (a "Demo configuration
 *                 — not the paper's setting" banner when "demo" is true); a missing key reads "not recorded"
 *   #table1       table1.csv (age t-tests)
 *   #table2       table2.csv (mean (SD) over folds)
 *   #segmentation segmentation.csv (only when it exists: a study on predicted ICM/TE masks), then
 *   #segmentation_gallery  segment/f<k>/gallery/<id>.png: manual (green) and predicted (magenta) outlines
 *   #figure4      SVG box plot of the fold AUROCs (runs/<unit>/metrics.json "auroc") per arch × input
 *   #roc          SVG ROC curves of runs/<unit>/test.csv, one per unit, one colour per arch × input, legend with
 *                 the mean test AUROC (tools/study/metrics.h bl_roc_curve / bl_auroc)
 *   #delong       delong.csv
 *   #delong_masks delong_masks.csv (only when it exists: enhanced from manual vs from predicted masks)
 *   #calibration  two SVG calibration plots (before / after isotonic) from calibration.json's curves, Brier and HL
 *   #table3       table3.csv
 *   #gradcam      overlays of the original and the enhanced unit side by side (gradcam/<unit>/<id>.png or
 *                 gradcam/<unit>/overlays/<id>.png), with label, score and hit from each unit's focus.csv
 * A missing part becomes a visible paragraph "not available: <file> missing". A present but malformed file fails
 * the whole call with one line naming the file and the field, and nothing is written. Images are embedded as
 * data: URIs; the page has no script and loads nothing from elsewhere. The same inputs give the same bytes. */
#ifndef BLASTO_REPORT_H
#define BLASTO_REPORT_H

#include <stddef.h>

#include "core/status.h"
#include "study/svg.h"

/* out_path NULL → <run_dir>/report.html. Written atomically (bl_write_file_atomic). */
bl_status bl_report_write(const char *run_dir, const char *out_path);

/* Standard base64 (RFC 4648, alphabet A–Z a–z 0–9 + /, '=' padding, no line breaks) of data [size], appended to out. */
void bl_base64_append(bl_strbuf *out, const unsigned char *data, size_t size);

/* At most this many image pairs are embedded in #gradcam (a note says how many more there are). */
#define BL_REPORT_MAX_GALLERY 48

#endif
