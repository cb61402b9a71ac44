/* fuzz_split.c — tools/study/split.c's reader of split CSVs (id,set,fold) on an arbitrary file, with K taken from the
 * file and with K fixed to 3; an accepted split must satisfy what the reader promises, and survive a write and
 * re-read unchanged. */
#include <string.h>

#include "fuzz_common.h"
#include "study/split.h"

static void check(const bl_split *s) {
    int n_test = 0;
    int seen[101] = {0};
    fuzz_check(s->folds >= 2);
    for (int i = 0; i < s->n; i++) {
        const bl_split_row *r = &s->rows[i];
        fuzz_check(r->id && r->id[0] && bl_split_find(s, r->id) == i);
        if (r->is_test) {
            n_test++;
            fuzz_check(r->fold == -1);
        } else {
            fuzz_check(r->fold >= 0 && r->fold < s->folds);
            seen[r->fold <= 100 ? r->fold : 100] = 1;
        }
    }
    fuzz_check(n_test == s->n_test);
    for (int k = 0; k < s->folds && k < 100; k++) fuzz_check(seen[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("split.csv", data, size);
    for (int expected = 0; expected <= 3; expected += 3) {
        bl_split *s = NULL;
        if (bl_split_read(path, expected, &s)) continue;
        check(s);
        if (expected == 0 || s->folds == expected) {
            if (bl_split_write(s, fuzz_path("back.csv")) == BL_OK) {
                bl_split *b = NULL;
                fuzz_check(bl_split_read(fuzz_path("back.csv"), s->folds, &b) == BL_OK);
                fuzz_check(b->n == s->n && b->folds == s->folds && b->n_test == s->n_test);
                for (int i = 0; i < s->n; i++)
                    fuzz_check(!strcmp(b->rows[i].id, s->rows[i].id) && b->rows[i].fold == s->rows[i].fold);
                bl_split_free(b);
            }
        }
        bl_split_free(s);
    }
    return 0;
}
