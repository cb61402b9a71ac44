/* fuzz_cohort.c — tools/study/cohort.c (columns, ids, ages, labels, image / annotation / mask-pair paths) on an
 * arbitrary file; an accepted cohort is written back (bl_cohort_write: relative paths, quoting) and re-read, and
 * must give the same rows. The parity of the length picks allow_missing_age. */
#include <math.h>
#include <string.h>

#include "fuzz_common.h"
#include "study/cohort.h"

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bl_cohort *c = NULL;
    if (bl_cohort_read(fuzz_write("cohort.csv", data, size), (int)(size & 1), &c)) return 0;
    for (int i = 0; i < c->n; i++) {
        const bl_cohort_row *r = &c->rows[i];
        fuzz_check(r->id && r->id[0] && r->image && r->clinic && (r->label == 0 || r->label == 1));
        fuzz_check(bl_cohort_find(c, r->id) == i);
        fuzz_check(isnan(r->age) || isfinite(r->age));
    }
    if (bl_cohort_write(c, fuzz_path("back.csv")) == BL_OK) {
        bl_cohort *b = NULL;
        fuzz_check(bl_cohort_read(fuzz_path("back.csv"), 1, &b) == BL_OK);
        fuzz_check(b->n == c->n);
        for (int i = 0; i < c->n; i++) {
            const bl_cohort_row *x = &c->rows[i], *y = &b->rows[i];
            fuzz_check(!strcmp(x->id, y->id) && !strcmp(x->clinic, y->clinic) && x->label == y->label);
            fuzz_check(same(x->image, y->image) && same(x->annotation, y->annotation));
            fuzz_check(same(x->icm_mask, y->icm_mask) && same(x->te_mask, y->te_mask));
            fuzz_check((isnan(x->age) && isnan(y->age)) || x->age == y->age);
        }
        bl_cohort_free(b);
    }
    bl_cohort_free(c);
    return 0;
}
