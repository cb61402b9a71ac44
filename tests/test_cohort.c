/* test_cohort.c — the cohort CSV (tools/study/cohort.h): columns in any order, relative path resolution, the
 * annotation forms, ages and labels; every bad-row message exactly; duplicate ids; write → read round trip with
 * paths made relative to the new CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "study/cohort.h"
#include "support/test_support.h"

static char tmp_dir[256];

static const char *tmp_path(char *buf, const char *name) { return test_path_in(buf, 512, tmp_dir, name); }

/* Writes `text` as <tmp>/<name>, reads it as a cohort and expects failure with exactly "<path>: <message>". */
static void expect_error(const char *name, const char *text, int allow_missing_age, const char *message) {
    char path[512], want[1024];
    tmp_path(path, name);
    test_write_text(path, text);
    bl_cohort *c = NULL;
    bl_status st = bl_cohort_read(path, allow_missing_age, &c);
    snprintf(want, sizeof want, "%s: %s", path, message);
    CHECK(st != BL_OK && c == NULL, "%s: refused", name);
    CHECK(strcmp(bl_last_error(), want) == 0, "%s: message\n   got  %s\n   want %s", name, bl_last_error(), want);
    bl_cohort_free(c);
}

static void test_read_good(void) {
    char path[512], want[512];
    tmp_path(path, "good.csv");
    /* columns reordered, an extra column, CRLF, a quoted clinic with a comma, spaces around numbers */
    test_write_text(path, "label,extra,id,image,annotation,age,clinic\r\n"
                     "1,x,e1,img/e1.png,ann/e1.json,34,A\r\n"
                     "0,y,e2,/abs/e2.jpg,m/e2_icm.png|m/e2_te.png, 36.5 ,\"B, north\"\r\n"
                     "0,z,e 3,e3.bmp,,41,C\r\n");
    bl_cohort *c = NULL;
    bl_status st = bl_cohort_read(path, 0, &c);
    CHECK(st == BL_OK, "good cohort reads: %s", bl_last_error());
    if (st) return;
    CHECK(c->n == 3, "3 rows (got %d)", c->n);
    CHECK(strcmp(c->rows[0].id, "e1") == 0 && c->rows[0].label == 1 && c->rows[0].age == 34.0 &&
              strcmp(c->rows[0].clinic, "A") == 0 && c->rows[0].line == 2,
          "row 1 fields");
    CHECK(strcmp(c->rows[0].image, tmp_path(want, "img/e1.png")) == 0, "image resolved against the CSV directory: %s",
          c->rows[0].image);
    CHECK(c->rows[0].annotation && strcmp(c->rows[0].annotation, tmp_path(want, "ann/e1.json")) == 0 &&
              !c->rows[0].icm_mask && !c->rows[0].te_mask,
          "labelme annotation resolved");
    CHECK(strcmp(c->rows[1].image, "/abs/e2.jpg") == 0, "absolute path kept: %s", c->rows[1].image);
    CHECK(!c->rows[1].annotation && c->rows[1].icm_mask && c->rows[1].te_mask &&
              strcmp(c->rows[1].icm_mask, tmp_path(want, "m/e2_icm.png")) == 0 &&
              strcmp(c->rows[1].te_mask, tmp_path(want, "m/e2_te.png")) == 0,
          "mask pair split and resolved");
    CHECK(c->rows[1].age == 36.5 && strcmp(c->rows[1].clinic, "B, north") == 0 && c->rows[1].label == 0,
          "row 2 age with spaces, quoted clinic");
    CHECK(!c->rows[2].annotation && !c->rows[2].icm_mask && strcmp(c->rows[2].id, "e 3") == 0,
          "empty annotation allowed at read time; ids may contain spaces");
    CHECK(bl_cohort_find(c, "e2") == 1 && bl_cohort_find(c, "e4") == -1, "find");
    bl_cohort_free(c);
}

static void test_bad_rows(void) {
    const char *header = "id,image,annotation,age,clinic,label\n";
    char text[1024];
    expect_error("missing_column.csv", "id,image,annotation,age,clinic\ne1,a.png,a.json,30,A\n", 0,
                 "header: missing column 'label' (expected id,image,annotation,age,clinic,label)");
    snprintf(text, sizeof text, "%se1,a.png,a.json,30,A,1\ne2,b.png,b.json,31,A,yes\n", header);
    expect_error("label_yes.csv", text, 0, "line 3: column 'label': not 0 or 1 (expected 0 or 1, got 'yes')");
    snprintf(text, sizeof text, "%se1,a.png,a.json,30,A,2\n", header);
    expect_error("label_2.csv", text, 0, "line 2: column 'label': not 0 or 1 (expected 0 or 1, got '2')");
    snprintf(text, sizeof text, "%se1,a.png,a.json,30,A,1\ne2,b.png,b.json,31,A,0\ne1,c.png,c.json,32,A,0\n", header);
    expect_error("duplicate.csv", text, 0, "line 4: column 'id': duplicate id (first on line 2, got 'e1')");
    snprintf(text, sizeof text, "%se1,a.png,a.json,NaN,A,1\n", header);
    expect_error("nan_age.csv", text, 0,
                 "line 2: column 'age': missing and imputation is off (expected years in (0, 100), got 'NaN')");
    snprintf(text, sizeof text, "%se1,a.png,a.json,,A,1\n", header);
    expect_error("empty_age.csv", text, 0,
                 "line 2: column 'age': missing and imputation is off (expected years in (0, 100), got '')");
    snprintf(text, sizeof text, "%se1,a.png,a.json,thirty,A,1\n", header);
    expect_error("word_age.csv", text, 1, "line 2: column 'age': not a number (expected years in (0, 100), got 'thirty')");
    snprintf(text, sizeof text, "%se1,a.png,a.json,inf,A,1\n", header);
    expect_error("inf_age.csv", text, 1, "line 2: column 'age': not a number (expected years in (0, 100), got 'inf')");
    snprintf(text, sizeof text, "%se1,a.png,a.json,130,A,1\n", header);
    expect_error("old_age.csv", text, 0, "line 2: column 'age': out of range (expected years in (0, 100), got '130')");
    snprintf(text, sizeof text, "%sa/b,a.png,a.json,30,A,1\n", header);
    expect_error("slash_id.csv", text, 0,
                 "line 2: column 'id': not usable as a file name (expected a non-empty id without '/', '\\' or '|', got "
                 "'a/b')");
    snprintf(text, sizeof text, "%sa|b,a.png,a.json,30,A,1\n", header);
    expect_error("bar_id.csv", text, 0,
                 "line 2: column 'id': not usable as a file name (expected a non-empty id without '/', '\\' or '|', got "
                 "'a|b')");
    snprintf(text, sizeof text, "%s,a.png,a.json,30,A,1\n", header);
    expect_error("empty_id.csv", text, 0,
                 "line 2: column 'id': not usable as a file name (expected a non-empty id without '/', '\\' or '|', got "
                 "'')");
    snprintf(text, sizeof text, "%se1,,a.json,30,A,1\n", header);
    expect_error("empty_image.csv", text, 0, "line 2: column 'image': empty (expected an image path, got '')");
    snprintf(text, sizeof text, "%se1,a.png,icm.png|,30,A,1\n", header);
    expect_error("half_pair.csv", text, 0,
                 "line 2: column 'annotation': malformed mask pair (expected icm.png|te.png, got 'icm.png|')");
    expect_error("no_rows.csv", header, 0, "no data rows (expected at least one embryo)");
    /* the CSV layer's own errors come through unchanged */
    snprintf(text, sizeof text, "%se1,a.png,a.json,30,A\n", header);
    expect_error("short_row.csv", text, 0, "line 2: 5 fields (expected 6, as in the header)");
}

static void test_missing_age_allowed(void) {
    char path[512];
    tmp_path(path, "impute.csv");
    test_write_text(path,
                    "id,image,annotation,age,clinic,label\ne1,a.png,,NaN,A,1\ne2,b.png,,,A,0\ne3,c.png,,29.25,A,0\n");
    bl_cohort *c = NULL;
    CHECK(bl_cohort_read(path, 1, &c) == BL_OK, "NaN and empty ages accepted with imputation: %s", bl_last_error());
    if (!c) return;
    CHECK(isnan(c->rows[0].age) && isnan(c->rows[1].age) && c->rows[2].age == 29.25, "ages: NaN, NaN, 29.25");

    /* round trip: write into a sub-directory; paths become relative to it where possible, NaN ages empty */
    char sub[512], out_path[512], line[4096];
    tmp_path(sub, "sub");
    mkdir(sub, 0755);
    tmp_path(out_path, "sub/written.csv");
    free(c->rows[0].image);
    c->rows[0].image = strdup(tmp_path(line, "sub/imgs/a.png")); /* below the new CSV: becomes relative */
    CHECK(bl_cohort_write(c, out_path) == BL_OK, "write: %s", bl_last_error());
    FILE *f = fopen(out_path, "rb");
    size_t k = f ? fread(line, 1, sizeof line - 1, f) : 0;
    line[k] = '\0';
    if (f) fclose(f);
    char want[4096];
    snprintf(want, sizeof want,
             "id,image,annotation,age,clinic,label\ne1,imgs/a.png,,,A,1\ne2,%s/b.png,,,A,0\ne3,%s/c.png,,29.25,A,0\n",
             tmp_dir, tmp_dir);
    CHECK(strcmp(line, want) == 0, "written cohort\n--- got\n%s--- want\n%s", line, want);
    bl_cohort *back = NULL;
    CHECK(bl_cohort_read(out_path, 1, &back) == BL_OK, "written cohort reads back: %s", bl_last_error());
    if (back) {
        CHECK(back->n == 3 && strcmp(back->rows[0].image, tmp_path(line, "sub/imgs/a.png")) == 0 &&
                  strcmp(back->rows[1].image, c->rows[1].image) == 0 && back->rows[2].age == 29.25 &&
                  isnan(back->rows[0].age),
              "round trip keeps paths and ages");
    }
    bl_cohort_free(back);
    bl_cohort_free(c);
}

int main(void) {
    if (!test_make_tmp_dir(tmp_dir, sizeof tmp_dir, "blasto_cohort"))
        return test_skip("cannot create a temporary directory");
    test_read_good();
    test_bad_rows();
    test_missing_age_allowed();
    test_remove_tree(tmp_dir);
    return test_summary("test_cohort");
}
