/* report_fixture.h — a hand-made experiment run directory for the report tests (test_report, test_report_chromium):
 * every file `blasto report` reads, with small known contents:
 *   run.json (demo: true; a device string with XML-special characters), table1.csv, table2.csv, delong.csv,
 *   calibration.json, table3.csv; runs/<arch>-<input>-f<k>/{test.csv, metrics.json} for resnet50 and vgg16 ×
 *   original and enhanced × folds 0 and 1 (6 test rows each); gradcam/resnet50-original-f0/{focus.csv,
 *   overlays/id1.png, overlays/id2.png} and gradcam/resnet50-enhanced-f0/{focus.csv, id1.png, id2.png} (16×16 RGB
 *   PNGs written with stb_image_write).
 * The numbers the tests check are listed next to the data in report_fixture.c. */
#ifndef BLASTO_TEST_REPORT_FIXTURE_H
#define BLASTO_TEST_REPORT_FIXTURE_H

/* Writes the run directory into dir (which must exist). Returns 0, or −1 when a file cannot be written. */
int report_fixture_write(const char *dir);

#endif
