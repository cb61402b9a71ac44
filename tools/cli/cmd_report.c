/* cmd_report.c — `blasto report --run DIR [--out FILE]`: one self-contained HTML file (tables, SVG figures, Grad-CAM
 * gallery, run metadata) from an experiment directory (tools/study/report.h, docs/experiment.md "Report"). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "study/report.h"

static int report_help(void) {
    printf("usage: blasto report --run DIR [--out FILE]\n\n"
           "Writes one self-contained HTML report of an experiment directory (blasto experiment --out DIR):\n"
           "run metadata (run.json), Table 1, Table 2, Figure 4 (box plot of fold AUROCs per arch x input), ROC\n"
           "curves of every unit's test predictions, DeLong tests, calibration curves before/after isotonic\n"
           "calibration with Brier and Hosmer-Lemeshow, Table 3 and a gallery of Grad-CAM overlays (original vs\n"
           "enhanced input). Plots are SVG drawn by blasto; images are embedded; the page has no script.\n\n"
           "  --run DIR    the experiment directory\n"
           "  --out FILE   where to write the report (default DIR/report.html); written atomically\n\n"
           "A part whose file is missing shows \"not available: <file> missing\". A malformed file is an error\n"
           "(exit 1, one line naming the file and the field, nothing written). Prints the path written.\n");
    return 0;
}

int cmd_report(int argc, char **argv) {
    const char *run_dir = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return report_help();
        if (strcmp(opt, "--run") == 0 && val) run_dir = val, i++;
        else if (strcmp(opt, "--out") == 0 && val) out_path = val, i++;
        else {
            fprintf(stderr, "blasto report: bad option '%s'%s (blasto report --help)\n", opt,
                    val || strncmp(opt, "--", 2) ? "" : ": missing value");
            return 2;
        }
    }
    if (!run_dir) {
        fprintf(stderr, "blasto report: --run is required (blasto report --help)\n");
        return 2;
    }
    if (bl_report_write(run_dir, out_path) != BL_OK) {
        fprintf(stderr, "blasto report: %s\n", bl_last_error());
        return 1;
    }
    if (out_path) printf("%s\n", out_path);
    else printf("%s/report.html\n", run_dir);
    return 0;
}
