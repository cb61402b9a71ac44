/* fuzz_predictions.c — tools/study/predictions.c's reader (id,label,score[,arch,input,fold]) on an arbitrary file;
 * accepted rows must be what the header promises, and a write + re-read must give the same values bit for bit
 * (scores are written with 17 significant digits). */
#include <math.h>
#include <string.h>

#include "fuzz_common.h"
#include "study/predictions.h"

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bl_predictions *p = NULL;
    if (bl_predictions_read(fuzz_write("pred.csv", data, size), &p)) return 0;
    for (int i = 0; i < p->n; i++) {
        fuzz_check(p->rows[i].id && p->rows[i].id[0]);
        fuzz_check(p->rows[i].label == 0 || p->rows[i].label == 1);
        fuzz_check(p->rows[i].score >= 0.0 && p->rows[i].score <= 1.0);
    }
    if (bl_predictions_write(fuzz_path("back.csv"), p) == BL_OK) {
        bl_predictions *b = NULL;
        fuzz_check(bl_predictions_read(fuzz_path("back.csv"), &b) == BL_OK);
        fuzz_check(b->n == p->n && b->fold == p->fold && same(b->arch, p->arch) && same(b->input, p->input));
        for (int i = 0; i < p->n; i++)
            fuzz_check(!strcmp(b->rows[i].id, p->rows[i].id) && b->rows[i].label == p->rows[i].label &&
                       b->rows[i].score == p->rows[i].score);
        bl_predictions_free(b);
    }
    bl_predictions_free(p);
    return 0;
}
