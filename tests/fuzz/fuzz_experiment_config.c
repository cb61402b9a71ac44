/* fuzz_experiment_config.c — tools/study/experiment.c's config reader (bl_experiment_config_read) on an arbitrary
 * file. The scratch folder holds a "cohort.csv" and "w/resnet50.safetensors" so configs naming them get past the
 * file-exists checks into the rest of the validation. An accepted config must be within the documented ranges. */
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "study/experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int prepared;
    if (!prepared) {
        fuzz_write("cohort.csv", "id,image,annotation,age,clinic,label\n", 37);
        mkdir(fuzz_path("w"), 0755);
        fuzz_write("w/resnet50.safetensors", "", 0);
        prepared = 1;
    }
    bl_experiment_config c;
    if (bl_experiment_config_read(fuzz_write("config.json", data, size), &c)) return 0;
    fuzz_check(c.cohort[0] && c.test_count >= 1 && c.folds >= 2 && c.folds <= 100);
    fuzz_check(c.n_archs >= 1 && c.n_archs <= BL_EXPERIMENT_MAX_ARCHS && c.n_inputs >= 1 && c.n_inputs <= 2);
    fuzz_check(c.lr >= 1e-12 && c.lr <= 10 && c.batch >= 2 && c.size >= 32);
    fuzz_check(c.annotations >= BL_ANNOTATIONS_MANUAL && c.annotations <= BL_ANNOTATIONS_BOTH);
    fuzz_check(c.segment.size >= 16 && c.segment.size % (1 << c.segment.unet.depth) == 0 && c.segment.epochs >= 1 &&
               c.segment.batch >= 1 && c.segment.unet.width >= 1);
    bl_experiment_arm arms[BL_EXPERIMENT_MAX_ARMS];
    int n_arms = bl_experiment_arms(&c, arms);
    fuzz_check(n_arms >= c.n_inputs && n_arms <= BL_EXPERIMENT_MAX_ARMS);
    return 0;
}
