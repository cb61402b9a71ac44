/* cmd_experiment.c — `blasto experiment`: the paper's runs (split, train/predict/metrics per arch × input × fold,
 * Table 2, paired DeLong) from one JSON config, resumable unit by unit (tools/study/experiment.h). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/status.h"
#include "experiment_ui.h"
#include "core/device.h"
#include "study/experiment.h"

static int experiment_help(void) {
    printf("usage: blasto experiment --config exp.json --out DIR [--threads N] [--rerun-changed]\n\n"
           "Runs the paper's experiment from a JSON config (docs/experiment.md):\n"
           "  {\"cohort\": \"C.csv\", \"test_count\": 512, \"folds\": 3, \"seed\": 1,\n"
           "   \"archs\": [\"vgg16\", \"resnet50\", \"densenet121\"], \"inputs\": [\"original\", \"enhanced\"],\n"
           "   \"epochs\": 30, \"batch\": 16, \"lr\": 1e-4, \"optimizer\": \"adam\", \"size\": 224,\n"
           "   \"freeze_backbone_epochs\": 0, \"weights_dir\": \"w\",\n"
           "   \"device\": \"cpu\", \"deterministic\": false, \"tf32\": false,\n"
           "   \"annotations\": \"manual\", \"segment_epochs\": 40, \"segment_size\": 256, \"segment_width\": 16,\n"
           "   \"segment_batch\": 8}\n"
           "cohort and test_count are required; paths are relative to the config file; weights_dir/<arch>.safetensors\n"
           "(absent: random init). Writes DIR/split.csv, DIR/runs/<arch>-<input>-f<k>/ (training run, test.csv,\n"
           "metrics.json at threshold 0.5), DIR/table2.csv (mean and SD, ddof 1, over folds), DIR/delong.csv\n"
           "(paired DeLong test enhanced vs original per arch and fold), DIR/table1.csv (age t-tests positives vs\n"
           "negatives, all and per clinic) and DIR/calibration.json (isotonic on the fold unit with the highest\n"
           "validation AUROC); with both inputs also DIR/gradcam/<unit>/focus.csv (Grad-CAM focus scores on the\n"
           "test rows of the best original and the best enhanced unit, no overlays) and DIR/table3.csv (as\n"
           "blasto focus-compare --out). \"annotations\": \"predicted\" enhances the validation and test rows from\n"
           "masks a U-Net trained per fold on that fold's training rows predicts (DIR/segment/f<k>/, DIR/\n"
           "segmentation.csv); \"both\" runs the enhanced input on manual and on predicted masks and adds\n"
           "DIR/delong_masks.csv. A unit whose output exists is skipped:\n"
           "run the same command again to resume an interrupted experiment.\n\n"
           "DIR/fingerprint.json records what produced the results (settings, cohort, image and annotation bytes,\n"
           "weights, blasto version, backend). A rerun into a folder whose results came from something else is\n"
           "refused, naming what changed; --rerun-changed removes those results and runs every unit again.\n"
           "One experiment per folder at a time (a second one is refused while the first runs).\n");
    return 0;
}

int cmd_experiment(int argc, char **argv) {
    const char *config = NULL, *out = NULL;
    long threads = 0;
    int rerun_changed = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(opt, "--help")) return experiment_help();
        if (!strcmp(opt, "--rerun-changed")) {
            rerun_changed = 1;
            i--; /* a flag: no value */
            continue;
        }
        if (!val) {
            fprintf(stderr, "blasto experiment: %s: missing value (blasto experiment --help)\n", opt);
            return 2;
        }
        if (!strcmp(opt, "--config")) config = val;
        else if (!strcmp(opt, "--out")) out = val;
        else if (!strcmp(opt, "--threads")) {
            int rc = cli_parse_int("experiment", opt, val, 1, 1024, &threads);
            if (rc) return rc;
        } else {
            fprintf(stderr, "blasto experiment: bad option '%s' %s (blasto experiment --help)\n", opt, val);
            return 2;
        }
    }
    if (!config || !out) {
        fprintf(stderr, "blasto experiment: --config and --out are required (blasto experiment --help)\n");
        return 2;
    }
    bl_experiment_config c;
    if (bl_experiment_config_read(config, &c)) {
        fprintf(stderr, "blasto experiment: %s\n", bl_last_error());
        return 1;
    }
    c.rerun_changed = rerun_changed;
    bl_world world;
    if (cli_world_open("experiment", &world, threads)) return 1;
    c.world = &world;
    const bl_kernels *device = NULL;
    bl_status st = bl_device_open_options(&c.device, &device);
    if (st) { /* the device comes from the config: name the key */
        char why[512];
        snprintf(why, sizeof why, "%s", bl_last_error());
        st = bl_fail(st, "%s: device: %s", config, why);
    }
    /* every rank opens the device before the first agreement, so a rank that cannot is seen by all */
    st = bl_world_agree(&world, st);
    char prefix[64] = "blasto experiment", tag[32] = "";
    if (world.size > 1) {
        snprintf(prefix, sizeof prefix, "blasto experiment [rank %d of %d]", world.rank, world.size);
        snprintf(tag, sizeof tag, "[rank %d] ", world.rank);
    }
    experiment_ui u;
    experiment_ui_init(&u, prefix);
    u.tag = tag;
    if (!st) st = bl_experiment_run(&c, out, &u.cb);
    experiment_ui_clear(&u);
    if (st) cli_world_error("experiment", &world);
    bl_world_close(&world);
    if (st) return 1;
    if (world.rank == 0) printf("%s/report.html\n", out);
    return 0;
}
