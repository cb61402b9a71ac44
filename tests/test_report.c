/* test_report.c — `bl_report_write` / `blasto report` on a hand-made run directory (support/report_fixture.c) and
 * the SVG module's building blocks:
 *   1. nice ticks (1-2-5 rule), numpy-linear percentiles and matplotlib box statistics of known data sets;
 *      base64 against RFC 4648's vectors and a round trip through a decoder written here;
 *   2. the report: every section id, the numbers of table2.csv as "mean (SD)", every <svg> well-formed (a small
 *      tag-balance checker), the ROC polyline of resnet50-original-f0 equal to the points worked out by hand in
 *      report_fixture.c, Figure 4's box of resnet50 original equal to its two folds' quartiles, the run.json text
 *      XML-escaped and the demo banner, the gallery's embedded PNG decoding to the overlay file's bytes, and two runs
 *      byte-identical;
 *   3. errors: a malformed metrics.json, table2.csv cell and run.json key → the exact one-line error and no report;
 *      a missing table1.csv → "not available: table1.csv missing"; the CLI's exit codes and messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "study/metrics.h"
#include "study/report.h"
#include "study/svg.h"
#include "support/report_fixture.h"
#include "support/test_support.h"

static char dir[512];

/* ---- helpers written here, independent of the code under test ---- */

static int decode_char(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* base64 text [len] → bytes; returns the byte count or −1 on a bad character or length. */
static long base64_decode(const char *text, size_t len, unsigned char *out) {
    if (len % 4) return -1;
    long n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (text[i + k] == '=' && i + 4 == len && k >= 2) v[k] = 0, pad++;
            else if ((v[k] = decode_char(text[i + k])) < 0) return -1;
        }
        unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        out[n++] = (unsigned char)(bits >> 16);
        if (pad < 2) out[n++] = (unsigned char)(bits >> 8);
        if (pad < 1) out[n++] = (unsigned char)bits;
    }
    return n;
}

/* Well-formedness of one <svg>…</svg> fragment: every tag closed in order, self-closing tags allowed, attribute
 * values quoted, no raw '<' or '&' outside tags except entities. Returns NULL when fine, else what is wrong. */
static const char *svg_problem(const char *s, size_t len) {
    static char why[160];
    char stack[64][32];
    int depth = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] == '&') {
            size_t j = i + 1;
            while (j < len && j < i + 8 && s[j] != ';') j++;
            if (j >= len || s[j] != ';') return "raw '&' in text";
            i = j + 1;
            continue;
        }
        if (s[i] != '<') {
            i++;
            continue;
        }
        int closing = i + 1 < len && s[i + 1] == '/';
        size_t j = i + 1 + closing, k = j;
        while (k < len && (s[k] >= 'a' && s[k] <= 'z')) k++;
        if (k == j || k - j >= 32) return "a tag without a name";
        char name[32];
        memcpy(name, s + j, k - j), name[k - j] = '\0';
        int quote = 0;
        while (k < len && (quote || s[k] != '>')) {
            if (s[k] == '"') quote = !quote;
            else if (!quote && s[k] == '<') return "'<' inside a tag";
            k++;
        }
        if (k >= len) return "an unterminated tag";
        int self_closing = s[k - 1] == '/';
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name)) {
                snprintf(why, sizeof why, "</%s> does not close <%s>", name, depth ? stack[depth - 1] : "(none)");
                return why;
            }
            depth--;
        } else if (!self_closing) {
            if (depth == 64) return "nesting too deep";
            snprintf(stack[depth++], 32, "%s", name);
        }
        i = k + 1;
    }
    if (depth) {
        snprintf(why, sizeof why, "<%s> is never closed", stack[depth - 1]);
        return why;
    }
    return NULL;
}

/* The value of attribute `attr` in the first element after `after` (which contains a unique marker), or "". */
static const char *attribute_after(const char *html, const char *after, const char *attr, char *out, size_t cap) {
    out[0] = '\0';
    const char *at = strstr(html, after);
    if (!at) return out;
    const char *end = strchr(at, '>');
    char key[64];
    snprintf(key, sizeof key, " %s=\"", attr);
    const char *v = strstr(at, key);
    if (!v || (end && v > end)) return out;
    v += strlen(key);
    const char *q = strchr(v, '"');
    if (!q || (size_t)(q - v) >= cap) return out;
    memcpy(out, v, (size_t)(q - v)), out[q - v] = '\0';
    return out;
}

static char *path_in(const char *name) {
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ % 8];
    test_path_in(p, 1024, dir, name);
    return p;
}

static int exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

/* ---- 1. building blocks ---- */

static void test_blocks(void) {
    double ticks[32], step;
    int n = bl_nice_ticks(0, 1, 5, ticks, 32, &step);
    CHECK(n == 6 && step == 0.2 && ticks[0] == 0 && ticks[3] == 3 * 0.2 && ticks[5] == 1, "ticks [0,1]: n %d step %g",
          n, step);
    n = bl_nice_ticks(0.2, 0.4, 5, ticks, 32, &step);
    CHECK(n == 5 && step == 0.05 && ticks[0] == 4 * 0.05 && ticks[4] == 8 * 0.05, "ticks [0.2,0.4]: n %d step %g", n,
          step);
    n = bl_nice_ticks(-3, 17, 5, ticks, 32, &step);
    CHECK(n == 4 && step == 5 && ticks[0] == 0 && ticks[3] == 15, "ticks [-3,17]: n %d step %g first %g", n, step,
          ticks[0]);

    /* numpy.percentile([1,2,3,4,100], [25,50,75]) = 2, 3, 4; IQR 2, fences −1 and 7 → whiskers 1 and 4, outlier 100 */
    const double a[5] = {100, 3, 1, 4, 2};
    bl_box_stats b;
    CHECK(bl_box_stats_compute(5, a, &b) == BL_OK, "box stats a");
    CHECK(b.q1 == 2 && b.median == 3 && b.q3 == 4 && b.whisker_low == 1 && b.whisker_high == 4 && b.n_outliers == 1 &&
              b.outliers[0] == 100,
          "box a: %g %g %g whiskers %g %g outliers %d", b.q1, b.median, b.q3, b.whisker_low, b.whisker_high,
          b.n_outliers);
    bl_box_stats_free(&b);
    /* [0.61, 0.7, 0.72, 0.9]: h = 0.75, 1.5, 2.25 → 0.61 + 0.75·0.09, (0.7 + 0.72)/2, 0.72 + 0.25·0.18; IQR 0.0875,
     * high fence 0.89625 → 0.9 is an outlier, and the highest datum inside (0.72) is below Q3, so the whisker sits at
     * Q3. matplotlib 3.6 cbook.boxplot_stats gives the same: whislo 0.61, whishi 0.765, fliers [0.9]. */
    const double c[4] = {0.9, 0.61, 0.72, 0.7};
    CHECK(bl_box_stats_compute(4, c, &b) == BL_OK, "box stats c");
    CHECK(b.q1 == 0.6775 && b.median == 0.71 && b.q3 == 0.765 && /* numpy 1.24 repr: array([0.6775, 0.71, 0.765]) */
              b.whisker_low == 0.61 && b.whisker_high == b.q3 && b.n_outliers == 1 && b.outliers[0] == 0.9,
          "box c: %.17g %.17g %.17g", b.q1, b.median, b.q3);
    bl_box_stats_free(&b);
    /* ten values, h = 2.25, 4.5, 6.75: numpy 1.24 percentile and matplotlib 3.6 boxplot_stats, frozen at %.17g */
    const double d[10] = {0.1, 0.35, 0.2, 0.9, 0.47, 0.33, 0.71, 0.05, 0.66, 0.61};
    CHECK(bl_box_stats_compute(10, d, &b) == BL_OK, "box stats d");
    CHECK(b.q1 == 0.23250000000000001 && b.median == 0.40999999999999998 && b.q3 == 0.64749999999999996 &&
              b.whisker_low == 0.05 && b.whisker_high == 0.9 && b.n_outliers == 0,
          "box d: %.17g %.17g %.17g", b.q1, b.median, b.q3);
    bl_box_stats_free(&b);
    /* one value: every statistic is that value */
    const double one = 0.5;
    CHECK(bl_box_stats_compute(1, &one, &b) == BL_OK && b.q1 == 0.5 && b.q3 == 0.5 && b.whisker_low == 0.5, "box one");
    bl_box_stats_free(&b);

    /* RFC 4648 section 10 */
    static const char *const plain[7] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[7] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        bl_strbuf s = {0};
        bl_base64_append(&s, (const unsigned char *)plain[i], strlen(plain[i]));
        CHECK(!strcmp(s.len ? s.data : "", coded[i]), "base64('%s') = '%s' (expected '%s')", plain[i],
              s.len ? s.data : "", coded[i]);
        bl_strbuf_free(&s);
    }
    unsigned char bytes[300], back[300];
    for (int i = 0; i < 300; i++) bytes[i] = (unsigned char)(i * 37 + 11);
    int round_trips = 1;
    for (int len = 0; len <= 300; len += 7) {
        bl_strbuf s = {0};
        bl_base64_append(&s, bytes, (size_t)len);
        long got = base64_decode(s.len ? s.data : "", s.len, back);
        round_trips &= got == len && memcmp(back, bytes, (size_t)len) == 0;
        bl_strbuf_free(&s);
    }
    CHECK(round_trips, "base64 round trip of 0..300 bytes");

    /* bl_roc_curve on the fixture's resnet50-original-f0 scores: the hand-worked points */
    const double score[6] = {0.9, 0.8, 0.7, 0.6, 0.3, 0.2};
    const int label[6] = {1, 0, 1, 1, 0, 0};
    int count = 0;
    double *fpr = NULL, *tpr = NULL;
    CHECK(bl_roc_curve(6, score, label, &count, &fpr, &tpr) == BL_OK, "roc curve");
    const double want_fpr[5] = {0, 0, 1.0 / 3, 1.0 / 3, 1}, want_tpr[5] = {0, 1.0 / 3, 1.0 / 3, 1, 1};
    int same = count == 5;
    for (int k = 0; same && k < 5; k++) same = fpr[k] == want_fpr[k] && tpr[k] == want_tpr[k];
    CHECK(same, "roc curve points (count %d)", count);
    free(fpr), free(tpr);
}

/* ---- 2. the report ---- */

static void test_report(void) {
    CHECK(report_fixture_write(dir) == 0, "fixture written");
    CHECK(bl_report_write(dir, NULL) == BL_OK, "report: %s", bl_last_error());
    size_t size = 0, size2 = 0;
    char *html = test_read_file(path_in("report.html"), &size);
    CHECK(html != NULL, "report.html written");
    if (!html) return;

    static const char *const ids[9] = {"meta", "table1", "table2", "figure4", "roc", "delong", "calibration",
                                       "table3", "gradcam"};
    const char *previous = html;
    for (int i = 0; i < 9; i++) {
        char key[64];
        snprintf(key, sizeof key, "<section id=\"%s\">", ids[i]);
        const char *at = strstr(html, key);
        CHECK(at != NULL && at > previous, "section #%s present and in order", ids[i]);
        if (at) previous = at;
    }
    CHECK(!strstr(html, "not available"), "nothing reported missing with the full fixture");
    CHECK(!strstr(html, "<script"), "no script");

    /* Table 2: resnet50 original's AUROC and accuracy, vgg16 enhanced's specificity */
    CHECK(strstr(html, "<td class=\"num\">0.750 (0.071)</td><td class=\"num\">0.667 (0.100)</td>") != NULL,
          "table2 resnet50 original numbers");
    CHECK(strstr(html, "<td class=\"num\">0.690 (0.042)</td>") && strstr(html, "0.750 (0.354)"),
          "table2 vgg16 enhanced numbers");
    /* Table 1 empty cells and p-values in %.3g; DeLong p and nan */
    CHECK(strstr(html, "35.00 (n/a)") && strstr(html, ">0.231<") && strstr(html, ">0.617<"), "table1/delong numbers");

    /* every <svg> balanced */
    int n_svg = 0;
    for (const char *s = strstr(html, "<svg"); s; s = strstr(s + 4, "<svg")) {
        const char *end = strstr(s, "</svg>");
        CHECK(end != NULL, "svg %d closed", n_svg);
        if (!end) break;
        const char *problem = svg_problem(s, (size_t)(end + 6 - s));
        CHECK(problem == NULL, "svg %d well-formed: %s", n_svg, problem ? problem : "");
        n_svg++;
    }
    CHECK(n_svg == 4, "4 svg figures (got %d)", n_svg);
    CHECK(strstr(html, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"figure4-svg\"") &&
              strstr(html, "id=\"roc-svg\"") && strstr(html, "id=\"calibration-before-svg\"") &&
              strstr(html, "id=\"calibration-after-svg\""),
          "svg ids");

    /* the ROC polyline of resnet50-original-f0: the hand-worked points of report_fixture.c at %.6g */
    char xy[512], points[512];
    attribute_after(html, "data-series=\"resnet50-original-f0\" data-xy", "data-xy", xy, sizeof xy);
    CHECK(!strcmp(xy, "0,0 0,0.333333 0.333333,0.333333 0.333333,1 1,1"), "roc data-xy '%s'", xy);
    attribute_after(html, "data-series=\"resnet50-original-f0\" data-xy", "points", points, sizeof points);
    int pairs = 0;
    for (char *tok = strtok(points, " "); tok; tok = strtok(NULL, " ")) pairs += strchr(tok, ',') != NULL;
    CHECK(pairs == 5, "roc pixel points: %d", pairs);
    /* its legend: mean of AUROC 7/9 (f0) and f1's; f1: scores 0.8 0.4 0.7 0.5 0.6 0.1 / labels 1 0 1 1 0 0 →
     * positives {0.8,0.7,0.5} vs negatives {0.4,0.6,0.1}: 8 of 9 pairs ordered → 8/9; mean 0.833 */
    CHECK(strstr(html, "resnet50 original: mean AUROC 0.833 (2 units)") != NULL, "roc legend mean");

    /* Figure 4: resnet50 original folds 0.70 and 0.80 */
    char stats[128];
    attribute_after(html, "data-series=\"resnet50 original\" data-stats", "data-stats", stats, sizeof stats);
    CHECK(!strcmp(stats, "0.7,0.725,0.75,0.775,0.8"), "figure 4 box '%s'", stats);
    /* the groups in order: resnet50 original, resnet50 enhanced, vgg16 original, vgg16 enhanced */
    const char *g1 = strstr(html, "data-series=\"resnet50 original\" data-stats");
    const char *g2 = strstr(html, "data-series=\"resnet50 enhanced\" data-stats");
    const char *g3 = strstr(html, "data-series=\"vgg16 original\" data-stats");
    const char *g4 = strstr(html, "data-series=\"vgg16 enhanced\" data-stats");
    CHECK(g1 && g2 && g3 && g4 && g1 < g2 && g2 < g3 && g3 < g4, "figure 4 group order");

    /* run.json: escaped, demo banner, not recorded for nothing here; calibration numbers */
    CHECK(strstr(html, "cpu &lt;x86&gt; &amp; &quot;avx&quot;") != NULL, "run.json device escaped");
    CHECK(strstr(html, "Demo configuration — not the paper&#39;s setting") ||
              strstr(html, "Demo configuration — not the paper's setting"),
          "demo banner");
    CHECK(strstr(html, ">61.5<") && strstr(html, ">61.8<"), "unit seconds and total");
    CHECK(strstr(html, ">0.2000<") && strstr(html, "χ² = 5.500 (df 8), p = 0.703"), "calibration numbers");
    CHECK(strstr(html, "undefined: χ² not finite (a group has an expected count of 0)"),
          "a null chi2 (expected count 0, as the experiment writes it) is shown as undefined");

    /* gallery: id1 and id2 with both overlays, id3 (no PNG) left out; the first image is id1's original overlay */
    CHECK(strstr(html, "<b>id1</b>, label 1") && strstr(html, "<b>id2</b>, label 0") && !strstr(html, "<b>id3</b>"),
          "gallery ids");
    CHECK(strstr(html, "resnet50-original-f0: score 0.910, hit yes") &&
              strstr(html, "resnet50-enhanced-f0: score 0.120, hit yes"),
          "gallery captions");
    const char *img = strstr(html, "data:image/png;base64,");
    size_t png_size = 0;
    unsigned char *png = (unsigned char *)test_read_file(path_in("gradcam/resnet50-original-f0/overlays/id1.png"),
                                                         &png_size);
    if (img && png) {
        img += strlen("data:image/png;base64,");
        size_t len = strcspn(img, "\"");
        unsigned char *decoded = malloc(len);
        long got = decoded ? base64_decode(img, len, decoded) : -1;
        CHECK(got == (long)png_size && memcmp(decoded, png, png_size) == 0, "embedded PNG = the overlay file");
        free(decoded);
    } else {
        CHECK(0, "an embedded image and the overlay file");
    }
    free(png);

    /* determinism: a second report to another path, byte-identical */
    CHECK(bl_report_write(dir, path_in("again.html")) == BL_OK, "second report: %s", bl_last_error());
    char *again = test_read_file(path_in("again.html"), &size2);
    CHECK(again && size2 == size && memcmp(again, html, size) == 0, "two reports byte-identical");
    free(again);
    free(html);
}

/* ---- 3. errors and missing parts ---- */

static void expect_error(const char *what, const char *file, const char *bad_text, const char *want_suffix) {
    char *saved = test_read_file(path_in(file), NULL);
    remove(path_in("report.html"));
    test_write_text(path_in(file), bad_text);
    bl_status st = bl_report_write(dir, NULL);
    char want[1024];
    snprintf(want, sizeof want, "%s/%s: %s", dir, file, want_suffix);
    CHECK(st != BL_OK && !strcmp(bl_last_error(), want), "%s: error '%s' (expected '%s')", what, bl_last_error(), want);
    CHECK(!exists(path_in("report.html")), "%s: no report.html", what);
    if (saved) test_write_text(path_in(file), saved);
    free(saved);
}

static void test_errors(void) {
    expect_error("metrics.json", "runs/resnet50-original-f1/metrics.json",
                 "{\"arch\": \"resnet50\", \"input\": \"original\", \"auroc\": \"high\"}\n",
                 "auroc: expected a number in [0, 1]");
    expect_error("table2.csv", "table2.csv",
                 "arch,input,folds,auroc_mean,auroc_sd,accuracy_mean,accuracy_sd,sensitivity_mean,sensitivity_sd,"
                 "specificity_mean,specificity_sd\nresnet50,original,2,abc,0.1,0.5,0.1,0.5,0.1,0.5,0.1\n",
                 "line 2: column 'auroc_mean': expected a number, got 'abc'");
    expect_error("run.json", "run.json", "{\"threads\": \"two\"}\n", "threads: expected an integer");
    expect_error("calibration.json", "calibration.json", "{\"before\": {\"brier\": 0.2, \"curve\": [{\"prob_pred\": 2}]},"
                 " \"after\": {}}\n", "before.curve[0].prob_pred: expected a number in [0, 1]");

    /* a missing table: a visible note in its section, the rest still rendered */
    char *saved = test_read_file(path_in("table1.csv"), NULL);
    remove(path_in("table1.csv"));
    CHECK(bl_report_write(dir, NULL) == BL_OK, "report without table1.csv: %s", bl_last_error());
    char *html = test_read_file(path_in("report.html"), NULL);
    CHECK(html && strstr(html, "<section id=\"table1\">\n<h2>Table 1: age of pregnant vs not pregnant</h2>\n"
                               "<p class=\"na\">not available: table1.csv missing</p>\n</section>"),
          "table1 not available");
    CHECK(html && strstr(html, "0.750 (0.071)"), "table2 still there");
    free(html);
    if (saved) test_write_text(path_in("table1.csv"), saved);
    free(saved);

    /* the CLI */
    char out[4096], cmd[2048], want[1024];
    snprintf(cmd, sizeof cmd, "report --run %s", dir);
    int rc = test_run_cli(cmd, 0, out, sizeof out);
    snprintf(want, sizeof want, "%s/report.html\n", dir);
    CHECK(rc == 0 && !strcmp(out, want), "cli: exit %d, printed '%s'", rc, out);
    snprintf(cmd, sizeof cmd, "report --run %s --out %s", dir, path_in("cli.html"));
    rc = test_run_cli(cmd, 0, out, sizeof out);
    CHECK(rc == 0 && exists(path_in("cli.html")), "cli --out: exit %d", rc);
    rc = test_run_cli("report", 1, out, sizeof out);
    CHECK(rc == 2 && !strcmp(out, "blasto report: --run is required (blasto report --help)\n"), "cli no --run: %d '%s'",
          rc, out);
    rc = test_run_cli("report --run", 1, out, sizeof out);
    CHECK(rc == 2 && !strcmp(out, "blasto report: bad option '--run': missing value (blasto report --help)\n"),
          "cli missing value: %d '%s'", rc, out);
    snprintf(cmd, sizeof cmd, "report --run %s/nope", dir);
    rc = test_run_cli(cmd, 1, out, sizeof out);
    snprintf(want, sizeof want, "blasto report: %s/nope: not a directory (expected an experiment run)\n", dir);
    CHECK(rc == 1 && !strcmp(out, want), "cli missing dir: %d '%s'", rc, out);
    rc = test_run_cli("report --help", 0, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "usage: blasto report --run DIR [--out FILE]"), "cli --help");
}

int main(void) {
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_test_report")) return test_skip("cannot make a temp dir");
    test_blocks();
    test_report();
    test_errors();
    test_remove_tree(dir);
    return test_summary("test_report");
}
