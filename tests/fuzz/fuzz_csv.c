/* fuzz_csv.c — tools/study/csv.c's RFC 4180 reader on arbitrary bytes (every CSV blasto reads goes through it):
 * checks the shape invariants of what it accepts, and that writing the rows back and re-reading gives the same
 * cells (quoting round trip). */
#include <string.h>

#include "fuzz_common.h"
#include "study/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bl_csv *csv = NULL;
    if (bl_csv_parse((const char *)data, size, "<fuzz>", &csv)) return 0;
    fuzz_check(csv->n_columns >= 1 && csv->n_rows >= 0);
    for (int j = 0; j < csv->n_columns; j++) fuzz_check(bl_csv_column(csv, csv->header[j]) <= j);
    bl_csv_writer *w = NULL;
    if (bl_csv_writer_create(csv->n_columns, (const char *const *)csv->header, &w) == BL_OK) {
        int ok = 1;
        for (int i = 0; i < csv->n_rows && ok; i++)
            ok = bl_csv_writer_add(w, (const char *const *)csv->rows[i]) == BL_OK;
        if (ok && bl_csv_writer_save(w, fuzz_path("out.csv")) == BL_OK) {
            bl_csv *back = NULL;
            if (bl_csv_read(fuzz_path("out.csv"), &back) == BL_OK) {
                fuzz_check(back->n_columns == csv->n_columns && back->n_rows == csv->n_rows);
                for (int j = 0; j < csv->n_columns; j++) fuzz_check(!strcmp(back->header[j], csv->header[j]));
                for (int i = 0; i < csv->n_rows; i++)
                    for (int j = 0; j < csv->n_columns; j++) fuzz_check(!strcmp(back->rows[i][j], csv->rows[i][j]));
                bl_csv_free(back);
            }
        }
        bl_csv_writer_free(w);
    }
    bl_csv_free(csv);
    return 0;
}
