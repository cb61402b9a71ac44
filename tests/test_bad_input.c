/* test_bad_input.c — the bad-input matrix of docs/reliability.md, through the `blasto` command.
 *
 * Every row is one input kind × one failure: the files are prepared in a scratch folder, the command runs there
 * (so messages carry short relative paths), and the row checks the exit status, that stderr is exactly ONE line
 * containing the expected message, and that the command's output file was not created. Rows whose failure is a
 * path with spaces and non-ASCII bytes check the opposite: exit 0 and the output present. Rows already covered by
 * another test (test_safetensors.c, test_weights_bad.c, test_cohort.c, …) are referenced in the document, not
 * repeated here.
 *
 * BLASTO_BAD_INPUT_TABLE=1 prints each row as Markdown with the actual message (how docs/reliability.md's table
 * is refreshed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/autograd.h"
#include "core/device.h"
#include "core/kernels.h"
#include "harness.h"
#include "support/png_fixture.h"
#include "support/test_support.h"

static char dir[512];
static int print_table;

/* ---- fixtures ---- */

static void write_bytes(const char *name, const void *data, size_t size) {
    char path[1024];
    test_path_in(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f) ok &= fclose(f) == 0;
    CHECK(ok, "fixture %s written", name);
}

static void write_text(const char *name, const char *text) { write_bytes(name, text, strlen(text)); }

/* the first `keep` bytes of `from` into `to` */
static void truncate_copy(const char *from, const char *to, double keep_fraction) {
    char path[1024];
    size_t size = 0;
    char *data = test_read_file(test_path_in(path, sizeof path, dir, from), &size);
    CHECK(data != NULL, "fixture %s readable", from);
    if (data) write_bytes(to, data, (size_t)((double)size * keep_fraction));
    free(data);
}

static void copy_file(const char *from_abs, const char *to) {
    size_t size = 0;
    char *data = test_read_file(from_abs, &size);
    CHECK(data != NULL, "fixture %s readable", from_abs);
    if (data) write_bytes(to, data, size);
    free(data);
}

/* a sparse file of `size` bytes (no disk used) */
static void sparse_file(const char *name, long long size) {
    char path[1024];
    test_path_in(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fclose(f) == 0 && truncate(path, (off_t)size) == 0;
    CHECK(ok, "sparse fixture %s", name);
}

static void png_header_only(const char *name, uint32_t width, uint32_t height, int bit_depth) {
    size_t n = 0;
    unsigned char *b = test_png_header_only(width, height, bit_depth, &n);
    CHECK(b != NULL, "fixture %s: out of memory", name);
    if (b) write_bytes(name, b, n);
    free(b);
}

static void png_gray(const char *name, uint32_t width, uint32_t height, unsigned char value) {
    size_t n = 0;
    unsigned char *b = test_png_gray(width, height, value, &n);
    CHECK(b != NULL, "fixture %s: out of memory", name);
    if (b) write_bytes(name, b, n);
    free(b);
}

/* A pid no process has: a child that has exited and been reaped. */
static long dead_pid(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    return (long)pid;
}

/* ---- one row ---- */

/* Runs `cd DIR && blasto ARGS`. expect_ok: the command must succeed and `output` exist; else it must fail with a
 * non-zero status, one stderr line containing `message`, and `output` (relative to DIR, may be NULL) absent. */
static void row(const char *kind, const char *failure, const char *args, const char *message, const char *output,
                int expect_ok) {
    char cmd[4096], err[4096] = "", out_path[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s %s >/dev/null", dir, BLASTO_CLI, args);
    int rc = test_run_shell(cmd, dir, err, sizeof err);
    size_t len = strlen(err);
    while (len && err[len - 1] == '\n') err[--len] = '\0';
    int lines = err[0] ? 1 : 0;
    for (const char *c = err; *c; c++) lines += *c == '\n';
    int output_exists = 0;
    if (output) {
        struct stat s;
        output_exists = stat(test_path_in(out_path, sizeof out_path, dir, output), &s) == 0;
    }
    if (expect_ok) {
        CHECK(rc == 0 && (!output || output_exists), "%s / %s: `blasto %s` succeeds (exit %d, %s)", kind, failure,
              args, rc, err);
    } else {
        CHECK(rc > 0 && rc != 77 && rc < 126, "%s / %s: `blasto %s` exits non-zero (got %d)", kind, failure, args, rc);
        CHECK(lines == 1, "%s / %s: exactly one stderr line (got %d):\n%s", kind, failure, lines, err);
        CHECK(strstr(err, message) != NULL, "%s / %s: message\n  expected: %s\n  got:      %s", kind, failure, message,
              err);
        CHECK(!output_exists, "%s / %s: no output file %s", kind, failure, output ? output : "");
    }
    if (print_table) { /* a Markdown row; '|' inside code spans escaped */
        printf("| %s | %s | `blasto ", kind, failure);
        for (const char *c = args; *c; c++) printf(*c == '|' ? "\\|" : "%c", *c);
        printf("` | %d | ", rc);
        if (expect_ok) printf("(accepted) |\n");
        else {
            printf("`");
            for (const char *c = err; *c; c++) printf(*c == '|' ? "\\|" : "%c", *c);
            printf("` |\n");
        }
    }
}

/* DIR/name: a safetensors file of the header JSON `h` and `n` data bytes */
static void write_safetensors(const char *name, const char *h, const void *data, size_t n) {
    size_t hn = strlen(h);
    unsigned char *b = calloc(8 + hn + n, 1);
    if (!b) {
        CHECK(0, "fixture %s: out of memory", name);
        return;
    }
    for (int j = 0; j < 8; j++) b[j] = (unsigned char)((uint64_t)hn >> (8 * j));
    memcpy(b + 8, h, hn);
    if (n) memcpy(b + 8 + hn, data, n);
    write_bytes(name, b, 8 + hn + n);
    free(b);
}

/* The type and, for a regular file, the CRC-32 of its bytes of DIR/name (or of an absolute path). */
static uint64_t fingerprint(const char *name) {
    char path[1024];
    if (name[0] == '/') snprintf(path, sizeof path, "%s", name);
    else test_path_in(path, sizeof path, dir, name);
    struct stat s;
    if (lstat(path, &s) != 0) return 0;
    uint64_t type = (uint64_t)(S_ISREG(s.st_mode) ? 1 : S_ISDIR(s.st_mode) ? 2 : S_ISCHR(s.st_mode) ? 3
                               : S_ISFIFO(s.st_mode) ? 4 : S_ISLNK(s.st_mode) ? 5 : 6) << 32;
    if (!S_ISREG(s.st_mode)) return type | 1;
    size_t size = 0;
    char *data = test_read_file(path, &size);
    uint64_t h = type | (data ? test_crc32((const unsigned char *)data, size) : 2);
    free(data);
    return h;
}

/* An output that would replace `victim` (an input of the command, a device, a FIFO): `blasto ARGS` must exit 2 with
 * one stderr line containing `message`, and `victim` keep its type and bytes. */
static void kept(const char *failure, const char *args, const char *message, const char *victim) {
    char cmd[4096], err[4096] = "";
    uint64_t before = fingerprint(victim);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s %s >/dev/null", dir, BLASTO_CLI, args);
    int rc = test_run_shell(cmd, dir, err, sizeof err);
    size_t len = strlen(err);
    while (len && err[len - 1] == '\n') err[--len] = '\0';
    CHECK(rc == 2 && !strchr(err, '\n') && strstr(err, message), "output / %s: `blasto %s` exits 2 with one line "
          "containing '%s' (got %d: %s)", failure, args, message, rc, err);
    CHECK(before != 0 && fingerprint(victim) == before, "output / %s: %s is unchanged", failure, victim);
    if (print_table) {
        printf("| output | %s | `blasto ", failure);
        for (const char *c = args; *c; c++) printf(*c == '|' ? "\\|" : "%c", *c);
        printf("` | %d | `%s` |\n", rc, err);
    }
}

#define BAD(kind, failure, args, message, output) row(kind, failure, args, message, output, 0)
#define GOOD(kind, failure, args, output) row(kind, failure, args, "", output, 1)

int main(void) {
    print_table = getenv("BLASTO_BAD_INPUT_TABLE") != NULL;
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_bad_input")) return test_skip("cannot create a temporary directory");

    /* valid fixtures: a 12-image synthetic cohort, its split, one trained DenseNet121 checkpoint (1 epoch, 32×32),
     * masks of one image, predictions and an isotonic model */
    char cmd[4096], err[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s synth --out c --n 12 --size 64 --seed 2 --quiet && "
             "%s split --cohort c/cohort.csv --test-count 2 --folds 2 --out split.csv >/dev/null && "
             "cp c/images/synth_0001.png img.png && cp c/annotations/synth_0001.json a.json && "
             "%s enhance --image img.png --annotation a.json --out e.png --masks-out m >/dev/null && "
             "%s train --cohort c/cohort.csv --split split.csv --fold 0 --out run --arch densenet121 --size 32 "
             "--batch 4 --epochs 1 --threads 2 >/dev/null",
             dir, BLASTO_CLI, BLASTO_CLI, BLASTO_CLI, BLASTO_CLI);
    int fixtures = test_run_shell(cmd, dir, err, sizeof err) == 0;
    CHECK(fixtures, "fixtures: %s", err);
    if (!fixtures) return test_summary("test_bad_input");
    write_text("p.csv", "id,label,score\na,1,0.9\nb,0,0.2\nc,1,0.6\nd,0,0.4\ne,1,0.35\nf,0,0.1\n");
    snprintf(cmd, sizeof cmd, "cd '%s' && %s calibrate fit --predictions p.csv --out iso.json >/dev/null", dir,
             BLASTO_CLI);
    CHECK(test_run_shell(cmd, dir, err, sizeof err) == 0, "fixture iso.json: %s", err);
    const char *header = "id,image,annotation,age,clinic,label\n";
    char text[4096];

    /* ---- cohort CSV (blasto split reads id/label/clinic; blasto enhance reads every column) ---- */
    BAD("cohort CSV", "missing", "split --cohort nope.csv --test-count 2 --out s.csv",
        "nope.csv: cannot open: No such file or directory", "s.csv");
    write_text("empty.csv", "");
    BAD("cohort CSV", "empty", "split --cohort empty.csv --test-count 2 --out s.csv", "empty.csv: ", "s.csv");
    snprintf(text, sizeof text, "%sx1,c/images/synth_0001.png,c/annotations/synth_0001.json,34,A,1\nx2,c/images/s",
             header);
    write_text("trunc.csv", text);
    BAD("cohort CSV", "truncated", "enhance --cohort trunc.csv --out eo", "trunc.csv: line 3", "eo");
    snprintf(text, sizeof text, "%sx1,c/images/synth_0001.png,c/annotations/synth_0001.json,34,A,yes\n", header);
    write_text("type.csv", text);
    BAD("cohort CSV", "wrong type (label)", "enhance --cohort type.csv --out eo", "type.csv: line 2: column 'label'",
        "eo");
    snprintf(text, sizeof text, "%sx1,c/images/synth_0001.png,c/annotations/synth_0001.json,thirty,A,1\n", header);
    write_text("age.csv", text);
    BAD("cohort CSV", "wrong type (age)", "enhance --cohort age.csv --out eo", "age.csv: line 2: column 'age'", "eo");
    write_text("shape.csv", "id,image,annotation,age,clinic\nx1,c/images/synth_0001.png,a.json,34,A\n");
    BAD("cohort CSV", "wrong shape (missing column)", "enhance --cohort shape.csv --out eo",
        "shape.csv: header: missing column 'label'", "eo");
    snprintf(text, sizeof text, "%sx1,c/images/synth_0001.png,c/annotations/synth_0001.json,nan,A,1\n", header);
    write_text("nan.csv", text);
    BAD("cohort CSV", "NaN age", "enhance --cohort nan.csv --out eo", "nan.csv: line 2: column 'age'", "eo");
    snprintf(text, sizeof text, "%sx1,c/images/synth_0001.png,c/annotations/synth_0001.json,inf,A,1\n", header);
    write_text("inf.csv", text);
    BAD("cohort CSV", "Inf age", "enhance --cohort inf.csv --out eo", "inf.csv: line 2: column 'age'", "eo");
    sparse_file("huge.csv", 3LL << 30);
    BAD("cohort CSV", "huge (3 GiB file)", "split --cohort huge.csv --test-count 2 --out s.csv",
        "huge.csv: file too large", "s.csv");
    snprintf(text, sizeof text,
             "%sx1,c/images/synth_0001.png,c/annotations/synth_0001.json,34,A,1\n"
             "x1,c/images/synth_0002.png,c/annotations/synth_0002.json,35,A,0\n",
             header);
    write_text("dup.csv", text);
    BAD("cohort CSV", "duplicate ids", "enhance --cohort dup.csv --out eo", "dup.csv: line 3", "eo");
    BAD("cohort CSV", "a folder instead of a file", "split --cohort c --test-count 2 --out s.csv", "c: cannot read",
        "s.csv");
    snprintf(cmd, sizeof cmd, "cd '%s' && mkdir -p 'sp ace/é' && cp c/cohort.csv 'sp ace/é/co hort.csv'", dir);
    CHECK(system(cmd) == 0, "fixture: unicode folder");
    GOOD("cohort CSV", "unicode/spaces in paths", "split --cohort 'sp ace/é/co hort.csv' --test-count 2 --out 'sp ace/é/s p.csv'",
         "sp ace/é/s p.csv");

    /* ---- split CSV (blasto train reads it before any training) ---- */
    const char *train = "train --cohort c/cohort.csv --fold 0 --arch densenet121 --size 32 --batch 4 --epochs 1 --out r";
    snprintf(cmd, sizeof cmd, "%s --split nope.csv", train);
    BAD("split CSV", "missing", cmd, "nope.csv: cannot open: No such file or directory", "r");
    snprintf(cmd, sizeof cmd, "%s --split empty.csv", train);
    BAD("split CSV", "empty", cmd, "empty.csv: ", "r");
    truncate_copy("split.csv", "strunc.csv", 0.5);
    snprintf(cmd, sizeof cmd, "%s --split strunc.csv", train);
    BAD("split CSV", "truncated", cmd, "strunc.csv", "r");
    write_text("stype.csv", "id,set,fold\nsynth_0001,train,one\n");
    snprintf(cmd, sizeof cmd, "%s --split stype.csv", train);
    BAD("split CSV", "wrong type (fold)", cmd, "stype.csv: line 2: column 'fold'", "r");
    write_text("sshape.csv", "id,fold\nsynth_0001,0\n");
    snprintf(cmd, sizeof cmd, "%s --split sshape.csv", train);
    BAD("split CSV", "wrong shape (missing column)", cmd, "sshape.csv: header: missing column 'set'", "r");
    write_text("snan.csv", "id,set,fold\nsynth_0001,train,nan\n");
    snprintf(cmd, sizeof cmd, "%s --split snan.csv", train);
    BAD("split CSV", "NaN fold", cmd, "snan.csv: line 2: column 'fold'", "r");
    write_text("shuge.csv", "id,set,fold\nsynth_0001,train,99999999999\n");
    snprintf(cmd, sizeof cmd, "%s --split shuge.csv", train);
    BAD("split CSV", "huge fold", cmd, "shuge.csv: line 2: column 'fold'", "r");
    write_text("sdup.csv", "id,set,fold\nsynth_0001,train,0\nsynth_0001,train,1\n");
    snprintf(cmd, sizeof cmd, "%s --split sdup.csv", train);
    BAD("split CSV", "duplicate ids", cmd, "sdup.csv: line 3", "r");

    /* ---- predictions CSV (blasto metrics) ---- */
    BAD("predictions CSV", "missing", "metrics --predictions nope.csv --out mo.json",
        "nope.csv: cannot open: No such file or directory", "mo.json");
    BAD("predictions CSV", "empty", "metrics --predictions empty.csv --out mo.json", "empty.csv: ", "mo.json");
    write_text("ptrunc.csv", "id,label,score\na,1,0.9\nb,0");
    BAD("predictions CSV", "truncated", "metrics --predictions ptrunc.csv --out mo.json", "ptrunc.csv: line 3",
        "mo.json");
    write_text("ptype.csv", "id,label,score\na,1,high\nb,0,0.2\n");
    BAD("predictions CSV", "wrong type (score)", "metrics --predictions ptype.csv --out mo.json",
        "ptype.csv: line 2: column 'score'", "mo.json");
    write_text("plabel.csv", "id,label,score\na,2,0.9\nb,0,0.2\n");
    BAD("predictions CSV", "wrong type (label 2)", "metrics --predictions plabel.csv --out mo.json",
        "plabel.csv: line 2: column 'label'", "mo.json");
    write_text("pshape.csv", "id,label\na,1\nb,0\n");
    BAD("predictions CSV", "wrong shape (missing column)", "metrics --predictions pshape.csv --out mo.json",
        "pshape.csv: header: missing column 'score'", "mo.json");
    write_text("pnan.csv", "id,label,score\na,1,nan\nb,0,0.2\n");
    BAD("predictions CSV", "NaN score", "metrics --predictions pnan.csv --out mo.json",
        "pnan.csv: line 2: column 'score'", "mo.json");
    write_text("pinf.csv", "id,label,score\na,1,inf\nb,0,0.2\n");
    BAD("predictions CSV", "Inf score", "metrics --predictions pinf.csv --out mo.json",
        "pinf.csv: line 2: column 'score'", "mo.json");
    write_text("prange.csv", "id,label,score\na,1,1.5\nb,0,0.2\n");
    BAD("predictions CSV", "score outside [0, 1]", "metrics --predictions prange.csv --out mo.json",
        "prange.csv: line 2: column 'score'", "mo.json");
    write_text("pdup.csv", "id,label,score\na,1,0.9\na,0,0.2\n");
    BAD("predictions CSV", "duplicate ids", "metrics --predictions pdup.csv --out mo.json", "pdup.csv: line 3",
        "mo.json");

    /* ---- labelme JSON (blasto enhance, one image) ---- */
    const char *one = "enhance --image img.png --out eo.png --annotation";
    snprintf(cmd, sizeof cmd, "%s nope.json", one);
    BAD("labelme JSON", "missing", cmd, "nope.json: cannot open: No such file or directory", "eo.png");
    write_text("empty.json", "");
    snprintf(cmd, sizeof cmd, "%s empty.json", one);
    BAD("labelme JSON", "empty", cmd, "empty.json: ", "eo.png");
    truncate_copy("a.json", "atrunc.json", 0.5);
    snprintf(cmd, sizeof cmd, "%s atrunc.json", one);
    BAD("labelme JSON", "truncated", cmd, "atrunc.json: ", "eo.png");
    write_text("atype.json", "{\"shapes\": [{\"label\": \"icm\", \"points\": \"1,2 3,4 5,6\"}]}");
    snprintf(cmd, sizeof cmd, "%s atype.json", one);
    BAD("labelme JSON", "wrong type (points)", cmd, "atype.json: shapes[0].points", "eo.png");
    write_text("ashape.json", "{\"shapes\": [{\"label\": \"icm\", \"points\": [[1,1],[9,1]]}, "
                              "{\"label\": \"te\", \"points\": [[1,1],[9,1],[5,8]]}]}");
    snprintf(cmd, sizeof cmd, "%s ashape.json", one);
    BAD("labelme JSON", "wrong shape (2-point polygon)", cmd, "ashape.json: shapes[0].points: polygon with 2 points",
        "eo.png");
    write_text("asize.json", "{\"imageWidth\": 100, \"imageHeight\": 64, \"shapes\": [{\"label\": \"icm\", "
                             "\"points\": [[1,1],[9,1],[5,8]]}, {\"label\": \"te\", \"points\": [[1,1],[9,1],[5,8]]}]}");
    snprintf(cmd, sizeof cmd, "%s asize.json", one);
    BAD("labelme JSON", "wrong shape (imageWidth ≠ image)", cmd, "asize.json: imageWidth: does not match", "eo.png");
    write_text("anan.json", "{\"shapes\": [{\"label\": \"icm\", \"points\": [[1,1],[NaN,1],[5,8]]}]}");
    snprintf(cmd, sizeof cmd, "%s anan.json", one);
    BAD("labelme JSON", "NaN coordinate (not JSON)", cmd, "anan.json: ", "eo.png");
    write_text("ahuge.json", "{\"shapes\": [{\"label\": \"icm\", \"points\": [[1,1],[1e300,1],[5,8]]}, "
                             "{\"label\": \"te\", \"points\": [[1,1],[9,1],[5,8]]}]}");
    snprintf(cmd, sizeof cmd, "%s ahuge.json", one);
    BAD("labelme JSON", "huge coordinate", cmd, "ahuge.json: shapes[0].points[1]: coordinate 1e+300 out of range",
        "eo.png");
    write_text("anoicm.json", "{\"shapes\": [{\"label\": \"te\", \"points\": [[1,1],[9,1],[5,8]]}]}");
    snprintf(cmd, sizeof cmd, "%s anoicm.json", one);
    BAD("labelme JSON", "no ICM polygon", cmd, "anoicm.json: shapes: no polygon labelled icm/ICM", "eo.png");

    /* ---- mask PNGs (blasto enhance --annotation "icm.png|te.png") ---- */
    BAD("mask PNG", "missing", "enhance --image img.png --annotation 'm/nope.png|m/te.png' --out eo.png",
        "m/nope.png: cannot open: No such file or directory", "eo.png");
    write_text("empty.png", "");
    BAD("mask PNG", "empty", "enhance --image img.png --annotation 'empty.png|m/te.png' --out eo.png",
        "empty.png: file is empty", "eo.png");
    truncate_copy("m/icm.png", "mtrunc.png", 0.6);
    BAD("mask PNG", "truncated", "enhance --image img.png --annotation 'mtrunc.png|m/te.png' --out eo.png",
        "mtrunc.png: ", "eo.png");
    write_text("mtext.png", "this is not a PNG\n");
    BAD("mask PNG", "wrong type (text)", "enhance --image img.png --annotation 'mtext.png|m/te.png' --out eo.png",
        "mtext.png: not a PNG/JPEG/BMP image", "eo.png");
    png_header_only("m16.png", 64, 64, 16);
    BAD("mask PNG", "wrong type (16-bit)", "enhance --image img.png --annotation 'm16.png|m/te.png' --out eo.png",
        "m16.png: 16-bit images are not supported", "eo.png");
    png_gray("m48.png", 48, 64, 255);
    BAD("mask PNG", "wrong shape (size ≠ image)", "enhance --image img.png --annotation 'm48.png|m/te.png' --out eo.png",
        "m48.png: size does not match img.png (expected 64x64, got 48x64)", "eo.png");
    png_gray("mfull.png", 64, 64, 1);
    GOOD("mask PNG", "(control: a valid 64×64 mask made here)",
         "enhance --image img.png --annotation 'mfull.png|m/te.png' --out eo_ok.png", "eo_ok.png");
    png_header_only("mhuge.png", 100000, 100000, 8);
    BAD("mask PNG", "huge dimensions", "enhance --image img.png --annotation 'mhuge.png|m/te.png' --out eo.png",
        "mhuge.png: 100000x100000 exceeds the limit of 67108864 pixels", "eo.png");

    /* ---- images (blasto enhance, one image) ---- */
    BAD("image", "missing", "enhance --image nope.png --annotation a.json --out eo.png",
        "nope.png: cannot open: No such file or directory", "eo.png");
    BAD("image", "empty", "enhance --image empty.png --annotation a.json --out eo.png", "empty.png: file is empty",
        "eo.png");
    truncate_copy("img.png", "itrunc.png", 0.5);
    BAD("image", "truncated", "enhance --image itrunc.png --annotation a.json --out eo.png", "itrunc.png: ", "eo.png");
    BAD("image", "wrong type (text)", "enhance --image mtext.png --annotation a.json --out eo.png",
        "mtext.png: not a PNG/JPEG/BMP image (unrecognised signature 0x74686973)", "eo.png");
    png_header_only("i16.png", 64, 64, 16);
    BAD("image", "wrong type (16-bit)", "enhance --image i16.png --annotation a.json --out eo.png",
        "i16.png: 16-bit images are not supported (expected 8-bit)", "eo.png");
    png_header_only("ihuge.png", 1u << 30, 1u << 30, 8);
    BAD("image", "huge dimensions (2^30 × 2^30 header)", "enhance --image ihuge.png --annotation a.json --out eo.png",
        "ihuge.png: 1073741824x1073741824 exceeds the limit of 67108864 pixels", "eo.png");
    png_header_only("iwide.png", 70000, 1000, 8);
    BAD("image", "huge dimensions (70000 × 1000)", "enhance --image iwide.png --annotation a.json --out eo.png",
        "iwide.png: 70000x1000 exceeds the limit of 67108864 pixels", "eo.png");
    copy_file(BLASTO_TEST_DIR "/fuzz/regressions/image/jpeg-dht-257-codes", "dht.jpg");
    BAD("image", "corrupt JPEG (fuzz finding)", "enhance --image dht.jpg --annotation a.json --out eo.png",
        "dht.jpg: corrupt JPEG: Huffman table with", "eo.png");
    /* the stb 2.27 defects fuzzing found (docs/reliability.md): each input refused before stb sees it */
    copy_file(BLASTO_TEST_DIR "/fuzz/regressions/image/jpeg-undefined-ac-table", "undef.jpg");
    BAD("image", "corrupt JPEG: undefined Huffman table (fuzz finding)",
        "enhance --image undef.jpg --annotation a.json --out eo.png",
        "undef.jpg: corrupt JPEG: scan uses Huffman table AC1 before any DHT defines it", "eo.png");
    copy_file(BLASTO_TEST_DIR "/fuzz/regressions/mask/png-2gib-idat", "idat.png");
    BAD("image", "PNG chunk declaring 1.4 GB in a 59-byte file (fuzz finding)",
        "enhance --image idat.png --annotation a.json --out eo.png",
        "idat.png: corrupt PNG: chunk 'IDAT' declares 1459617821 bytes, only 26 remain in the file", "eo.png");
    copy_file(BLASTO_TEST_DIR "/fuzz/regressions/mask/bmp-short-palette", "offset.bmp");
    BAD("image", "BMP pixel offset inside the headers (fuzz finding)",
        "enhance --image offset.bmp --annotation a.json --out eo.png",
        "offset.bmp: corrupt BMP: pixel data offset 0 lies inside the headers", "eo.png");
    copy_file(BLASTO_TEST_DIR "/fuzz/regressions/image/png-huge-header-product", "wh.png");
    BAD("image", "huge dimensions (2^32−1 × 2^32−1 header, fuzz finding)",
        "enhance --image wh.png --annotation a.json --out eo.png",
        "wh.png: 4294967295x4294967295 exceeds the limit of 67108864 pixels", "eo.png");
    snprintf(cmd, sizeof cmd, "cd '%s' && cp img.png 'sp ace/é/im age.png' && cp a.json 'sp ace/é/a n.json'", dir);
    CHECK(system(cmd) == 0, "fixture: unicode image");
    GOOD("image", "unicode/spaces in paths",
         "enhance --image 'sp ace/é/im age.png' --annotation 'sp ace/é/a n.json' --out 'sp ace/é/o ut.png'",
         "sp ace/é/o ut.png");

    /* ---- safetensors weights and checkpoints (blasto inspect, blasto predict) ---- */
    BAD("safetensors", "missing", "inspect nope.safetensors", "nope.safetensors: cannot open: No such file or directory",
        NULL);
    write_text("empty.safetensors", "");
    BAD("safetensors", "empty", "inspect empty.safetensors", "empty.safetensors: file is empty", NULL);
    truncate_copy("run/best.safetensors", "trunc.safetensors", 0.5);
    BAD("safetensors", "truncated checkpoint", "predict --model trunc.safetensors --cohort c/cohort.csv --out po.csv",
        "trunc.safetensors: ", "po.csv");
    {
        static const unsigned char four[4] = {0};
        write_safetensors("huge.safetensors",
                          "{\"x\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}",
                          four, 4);
        BAD("safetensors", "huge dimensions (crafted shape)", "inspect huge.safetensors",
            "huge.safetensors: 'x': shape [1099511627776,1099511627776] has more elements than fit in int64", NULL);
        unsigned char l[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
        write_bytes("hlen.safetensors", l, sizeof l);
        BAD("safetensors", "huge header length", "inspect hlen.safetensors",
            "hlen.safetensors: header length 9223372036854775807 exceeds the 100 MiB limit", NULL);
    }
    BAD("checkpoint", "wrong architecture",
        "predict --model run/best.safetensors --arch resnet50 --cohort c/cohort.csv --out po.csv",
        "run/best.safetensors: __metadata__.arch: architecture mismatch", "po.csv");
    BAD("checkpoint", "wrong type (an image)", "predict --model img.png --cohort c/cohort.csv --out po.csv", "img.png: ",
        "po.csv");

    /* ---- experiment config (blasto experiment) ---- */
    BAD("experiment config", "missing", "experiment --config nope.json --out xo",
        "nope.json: cannot open: No such file or directory", "xo");
    BAD("experiment config", "empty", "experiment --config empty.json --out xo", "empty.json: ", "xo");
    write_text("xtrunc.json", "{\"cohort\": \"c/cohort.csv\", \"test_co");
    BAD("experiment config", "truncated", "experiment --config xtrunc.json --out xo", "xtrunc.json: not valid JSON", "xo");
    write_text("xtype.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2, \"folds\": \"3\"}");
    BAD("experiment config", "wrong type (folds)", "experiment --config xtype.json --out xo",
        "xtype.json: folds: expected an integer in [2, 100], got another JSON type", "xo");
    write_text("xkey.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2, \"fold\": 3}");
    BAD("experiment config", "wrong shape (unknown key)", "experiment --config xkey.json --out xo",
        "xkey.json: fold: unknown key", "xo");
    write_text("xinf.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2, \"lr\": 1e999}");
    BAD("experiment config", "Inf (lr 1e999)", "experiment --config xinf.json --out xo",
        "xinf.json: lr: expected a number in [1e-12, 10)", "xo");
    write_text("xlr.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2, \"lr\": 10}");
    BAD("experiment config", "lr 10 (what train refuses, refused before any output)",
        "experiment --config xlr.json --out xo", "xlr.json: lr: expected a number in [1e-12, 10)", "xo");
    write_text("xhuge.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2, \"folds\": 1e12}");
    BAD("experiment config", "huge (folds 1e12)", "experiment --config xhuge.json --out xo",
        "xhuge.json: folds: expected an integer in [2, 100], got a number outside it", "xo");
    write_text("xdup.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2, \"archs\": [\"vgg16\", \"vgg16\"]}");
    BAD("experiment config", "duplicate archs", "experiment --config xdup.json --out xo",
        "xdup.json: archs[1]: 'vgg16' twice", "xo");
    write_text("xcoh.json", "{\"cohort\": \"nope.csv\", \"test_count\": 2}");
    BAD("experiment config", "cohort file missing", "experiment --config xcoh.json --out xo",
        "xcoh.json: cohort: nope.csv: no such file", "xo");
    sparse_file("xbig.json", 2 << 20);
    BAD("experiment config", "huge (2 MiB file)", "experiment --config xbig.json --out xo", "xbig.json: file too large",
        "xo");

    /* ---- calibration JSON (blasto calibrate apply) ---- */
    const char *apply = "calibrate apply --predictions p.csv --out co.csv --model";
    snprintf(cmd, sizeof cmd, "%s nope.json", apply);
    BAD("calibration JSON", "missing", cmd, "nope.json: cannot open: No such file or directory", "co.csv");
    snprintf(cmd, sizeof cmd, "%s empty.json", apply);
    BAD("calibration JSON", "empty", cmd, "empty.json: ", "co.csv");
    truncate_copy("iso.json", "ctrunc.json", 0.5);
    snprintf(cmd, sizeof cmd, "%s ctrunc.json", apply);
    BAD("calibration JSON", "truncated", cmd, "ctrunc.json: ", "co.csv");
    write_text("ctype.json", "{\"format\": \"blasto-isotonic\", \"version\": 1, \"X_thresholds\": [\"0.1\"], "
                             "\"y_thresholds\": [0.5]}");
    snprintf(cmd, sizeof cmd, "%s ctype.json", apply);
    BAD("calibration JSON", "wrong type (string threshold)", cmd, "ctype.json: X_thresholds", "co.csv");
    write_text("cshape.json", "{\"format\": \"blasto-isotonic\", \"version\": 1, \"X_thresholds\": [0.1, 0.5], "
                              "\"y_thresholds\": [0.5]}");
    snprintf(cmd, sizeof cmd, "%s cshape.json", apply);
    BAD("calibration JSON", "wrong shape (lengths differ)", cmd,
        "cshape.json: y_thresholds: length differs from X_thresholds (expected 2, got 1)", "co.csv");
    write_text("cinf.json", "{\"format\": \"blasto-isotonic\", \"version\": 1, \"X_thresholds\": [0.1, 1e999], "
                            "\"y_thresholds\": [0.2, 0.5]}");
    snprintf(cmd, sizeof cmd, "%s cinf.json", apply);
    BAD("calibration JSON", "Inf threshold", cmd, "cinf.json: X_thresholds[1]", "co.csv");
    write_text("cfmt.json", "{\"format\": \"sklearn\", \"version\": 1, \"X_thresholds\": [0.1], \"y_thresholds\": [0.5]}");
    snprintf(cmd, sizeof cmd, "%s cfmt.json", apply);
    BAD("calibration JSON", "wrong type (format)", cmd, "cfmt.json: format: unknown format", "co.csv");

    /* ---- segmentation annotations (blasto segment train checks every sample before it writes anything) ---- */
    write_text("segsplit.csv", "id,set,fold\ng1,train,0\ng2,train,1\nbad,train,1\n");
    png_gray("m17.png", 64, 64, 17);
    const struct {
        const char *failure, *image, *annotation, *message;
    } seg[] = {
        {"mask of the wrong size", "c/images/synth_0003.png", "m48.png|m/te.png",
         "m48.png: size does not match c/images/synth_0003.png (expected 64x64, got 48x64)"},
        {"mask not 0/255", "c/images/synth_0003.png", "m17.png|m/te.png",
         "m17.png: pixel (0, 0) is 17: expected a 0/255 mask"},
        {"labelme without an icm shape", "c/images/synth_0003.png", "anoicm.json",
         "anoicm.json: shapes: no polygon labelled icm/ICM"},
        {"unreadable image", "mtext.png", "c/annotations/synth_0003.json", "mtext.png: not a PNG/JPEG/BMP image"},
    };
    for (size_t i = 0; i < sizeof seg / sizeof seg[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "seg%zu.csv", i);
        snprintf(text, sizeof text,
                 "%sg1,c/images/synth_0001.png,c/annotations/synth_0001.json,34,A,1\n"
                 "g2,c/images/synth_0002.png,c/annotations/synth_0002.json,35,A,0\nbad,%s,%s,30,A,1\n",
                 header, seg[i].image, seg[i].annotation);
        write_text(name, text);
        snprintf(cmd, sizeof cmd, "segment train --cohort %s --split segsplit.csv --fold 0 --size 64 --depth 2 "
                 "--width 4 --epochs 1 --out sr", name);
        BAD("segmentation annotation", seg[i].failure, cmd, seg[i].message, "sr");
    }

    /* ---- command-line arguments ---- */
    BAD("CLI arguments", "unknown command", "nosuch", "unknown command 'nosuch'", NULL);
    BAD("CLI arguments", "unknown option", "split --cohort c/cohort.csv --test-count 2 --out s.csv --bogus 1",
        "--bogus", "s.csv");
    BAD("CLI arguments", "missing value", "split --cohort c/cohort.csv --out s.csv --test-count", "--test-count",
        "s.csv");
    BAD("CLI arguments", "wrong type (integer)", "split --cohort c/cohort.csv --test-count two --out s.csv",
        "--test-count: expected an integer", "s.csv");
    BAD("CLI arguments", "out of range", "split --cohort c/cohort.csv --test-count 2 --folds 1 --out s.csv", "--folds",
        "s.csv");
    BAD("CLI arguments", "huge number", "split --cohort c/cohort.csv --test-count 99999999999999999999 --out s.csv",
        "--test-count", "s.csv");
    BAD("CLI arguments", "missing required option", "split --cohort c/cohort.csv --out s.csv", "--test-count", "s.csv");
    BAD("CLI arguments", "NaN value", "metrics --predictions p.csv --threshold nan --out mo.json", "--threshold",
        "mo.json");

    /* ---- outputs: never a device, never an input; inputs: regular files only ---- */
    snprintf(cmd, sizeof cmd, "cd '%s' && cp c/cohort.csv cc.csv && cp run/best.safetensors w.safetensors && "
             "mkfifo fifo.csv fifo.json fifo.png fifo.safetensors && ln -s target.csv link.csv && "
             "echo old > target.csv && ln -s nowhere.csv dangling.csv", dir);
    CHECK(system(cmd) == 0, "fixture: copies, FIFOs, links");
    kept("onto a device", "split --cohort cc.csv --test-count 2 --out /dev/null",
         "/dev/null: exists and is not a regular file (a character device)", "/dev/null");
    kept("onto a FIFO", "split --cohort cc.csv --test-count 2 --out fifo.csv",
         "fifo.csv: exists and is not a regular file (a FIFO)", "fifo.csv");
    kept("onto a folder", "split --cohort cc.csv --test-count 2 --out c", "c: exists and is not a regular file (a folder)",
         "c");
    kept("split onto its cohort", "split --cohort cc.csv --test-count 2 --out cc.csv",
         "cc.csv: is also an input of this command", "cc.csv");
    kept("predict onto its cohort", "predict --model run/best.safetensors --cohort cc.csv --out cc.csv",
         "cc.csv: is also an input of this command", "cc.csv");
    kept("stats onto its cohort", "stats ttest --cohort cc.csv --out cc.csv", "cc.csv: is also an input of this command",
         "cc.csv");
    kept("metrics onto its predictions", "metrics --predictions p.csv --out p.csv",
         "p.csv: is also an input of this command", "p.csv");
    kept("calibrate fit onto its predictions", "calibrate fit --predictions p.csv --out p.csv",
         "p.csv: is also an input of this command", "p.csv");
    kept("calibrate apply onto its model", "calibrate apply --predictions p.csv --model iso.json --out iso.json",
         "iso.json: is also an input of this command", "iso.json");
    kept("enhance onto its image", "enhance --image img.png --annotation a.json --out img.png",
         "img.png: is also an input of this command", "img.png");
    kept("enhance onto its annotation", "enhance --image img.png --annotation a.json --out a.json",
         "a.json: is also an input of this command", "a.json");
    kept("convert onto its input", "convert w.safetensors w.safetensors --from torchvision",
         "w.safetensors: is also an input of this command", "w.safetensors");
    kept("empty output name", "split --cohort cc.csv --test-count 2 --out ''", "(empty path): expected an output file name",
         "cc.csv");
    kept("a link to a missing file", "split --cohort cc.csv --test-count 2 --out dangling.csv",
         "dangling.csv: is a symbolic link to a missing file", "dangling.csv");
    GOOD("output", "a symbolic link (written through)", "split --cohort cc.csv --test-count 2 --out link.csv",
         "target.csv");
    {
        struct stat s;
        char path[1024];
        size_t size = 0;
        char *split = test_read_file(test_path_in(path, sizeof path, dir, "target.csv"), &size);
        CHECK(lstat(test_path_in(path, sizeof path, dir, "link.csv"), &s) == 0 && S_ISLNK(s.st_mode) && split &&
                  !strncmp(split, "id,set,fold\n", 12),
              "output / symbolic link: the link stays, the file it points to holds the split");
        free(split);
    }
    BAD("input", "a FIFO as the cohort", "split --cohort fifo.csv --test-count 2 --out s.csv",
        "fifo.csv: cannot read: not a regular file (a FIFO)", "s.csv");
    BAD("input", "/dev/urandom as the cohort", "split --cohort /dev/urandom --test-count 2 --out s.csv",
        "/dev/urandom: cannot read: not a regular file (a character device)", "s.csv");
    BAD("input", "a FIFO as the image", "enhance --image fifo.png --annotation a.json --out eo.png",
        "fifo.png: cannot read: not a regular file (a FIFO)", "eo.png");
    BAD("input", "a FIFO as the annotation", "enhance --image img.png --annotation fifo.json --out eo.png",
        "fifo.json: cannot read: not a regular file (a FIFO)", "eo.png");
    BAD("input", "a FIFO as safetensors", "inspect fifo.safetensors", "fifo.safetensors: cannot read: not a regular "
        "file (a FIFO)", NULL);
    BAD("input", "a FIFO as the experiment config", "experiment --config fifo.json --out xo",
        "fifo.json: cannot read: not a regular file (a FIFO)", "xo");
    BAD("input", "a FIFO as the calibration model", "calibrate apply --predictions p.csv --model fifo.json --out co.csv",
        "fifo.json: cannot read: not a regular file (a FIFO)", "co.csv");
    BAD("input", "a FIFO as the predictions", "metrics --predictions fifo.csv --out mo.json",
        "fifo.csv: cannot read: not a regular file (a FIFO)", "mo.json");

    /* ---- ambiguous input: what two readers would read differently is refused ---- */
    write_text("xdupkey.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2, \"test_count\": 3}");
    BAD("experiment config", "duplicate key", "experiment --config xdupkey.json --out xo",
        "xdupkey.json: top level: duplicate key 'test_count' (JSON readers disagree on which one counts)", "xo");
    write_text("xtrail.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2} {\"folds\": 5}");
    BAD("experiment config", "data after the document", "experiment --config xtrail.json --out xo",
        "xtrail.json: unexpected data after the JSON document (byte 44 of 56)", "xo");
    write_text("xnul.json", "{\"cohort\": \"c/cohort.csv\\u0000.bak\", \"test_count\": 2}");
    BAD("experiment config", "\\u0000 in a path", "experiment --config xnul.json --out xo",
        "xnul.json: a string holds \\u0000 (byte 24), which would cut it short", "xo");
    {
        size_t n = 0;
        char p[1024], *a = test_read_file(test_path_in(p, sizeof p, dir, "a.json"), &n);
        char *at = a ? strstr(a, "\"label\"") : NULL;
        CHECK(at != NULL, "a.json has a label");
        if (at) { /* the first shape's label given twice: "label": "te", "label": <the original> */
            size_t head = (size_t)(at - a);
            char *twice = malloc(n + 32);
            if (twice) {
                memcpy(twice, a, head);
                memcpy(twice + head, "\"label\": \"te\", ", 15);
                memcpy(twice + head + 15, at, n - head);
                write_bytes("adup.json", twice, n + 15);
                free(twice);
            }
        }
        free(a);
    }
    BAD("labelme JSON", "duplicate key", "enhance --image img.png --annotation adup.json --out eo.png",
        "adup.json: shapes[0]: duplicate key 'label' (JSON readers disagree on which one counts)", "eo.png");
    snprintf(text, sizeof text, "%s", header);
    text[strlen(text) - 1] = '\0';
    snprintf(text + strlen(text), sizeof text - strlen(text),
             ",label\nx1,c/images/synth_0001.png,c/annotations/synth_0001.json,34,A,0,1\n");
    write_text("dupcol.csv", text);
    BAD("cohort CSV", "a column twice", "split --cohort dupcol.csv --test-count 0 --out s.csv",
        "dupcol.csv: header: column 'label' twice (columns 6 and 7)", "s.csv");

    /* ---- paths an output records as JSON text must be UTF-8: refused before the work, not at the first save ---- */
    snprintf(cmd, sizeof cmd, "cd '%s' && cp c/cohort.csv \"$(printf 'c\\377.csv')\" && "
             "cp w.safetensors \"$(printf 'w\\377.safetensors')\"", dir);
    CHECK(system(cmd) == 0, "fixture: non-UTF-8 names");
    BAD("path", "not UTF-8 (train --cohort)",
        "train --cohort \"$(printf 'c\\377.csv')\" --split split.csv --fold 0 --arch densenet121 --size 32 --batch 4 "
        "--epochs 1 --out r8", "--cohort: 'c\\xff.csv' is not valid UTF-8", "r8");
    BAD("path", "not UTF-8 (convert IN)", "convert \"$(printf 'w\\377.safetensors')\" wo.safetensors --from torchvision",
        "IN: 'w\\xff.safetensors' is not valid UTF-8", "wo.safetensors");

    BAD("CLI arguments", "an option twice", "split --cohort c/cohort.csv --test-count 2 --out s.csv --test-count 3",
        "blasto split: --test-count given twice (each option at most once)", "s.csv");
    BAD("CLI arguments", "an id twice (gradcam --ids)",
        "gradcam --model run/best.safetensors --cohort c/cohort.csv --ids synth_0001,synth_0001 --out go",
        "--ids: 'synth_0001' given twice (focus.csv has one row per id)", "go");

    /* messages are one printable line whatever they quote: a cell with a quoted newline and an escape byte */
    snprintf(text, sizeof text, "%sx1,c/images/synth_0001.png,c/annotations/synth_0001.json,\"3\n\0334\",A,1\n", header);
    write_text("nl.csv", text);
    BAD("cohort CSV", "a newline and an escape byte in a cell", "enhance --cohort nl.csv --out eo",
        "nl.csv: line 2: column 'age': not a number (expected years in (0, 100), got '3\\x0a\\x1b4')", "eo");
    /* inspect shows a tensor name with a control character escaped, not as a terminal command */
    {
        static const unsigned char four[4] = {0};
        write_safetensors("esc.safetensors", "{\"a\\u001b[31mb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                          four, 4);
        snprintf(cmd, sizeof cmd, "cd '%s' && %s inspect esc.safetensors > esc.txt", dir, BLASTO_CLI);
        CHECK(test_run_shell(cmd, dir, err, sizeof err) == 0, "inspect esc.safetensors: %s", err);
        size_t n = 0;
        char p[1024], *out = test_read_file(test_path_in(p, sizeof p, dir, "esc.txt"), &n);
        CHECK(out && !memchr(out, 0x1b, n) && strstr(out, "a\\x1b[31mb"), "inspect: the escape byte is shown as \\x1b");
        free(out);
    }

    /* diff compares integer tensors exactly: 2^53 + 1 is not 2^53 (as doubles they are equal) */
    {
        for (int k = 0; k < 2; k++) {
            unsigned char le[8];
            uint64_t v = (1ull << 53) + (uint64_t)k;
            for (int j = 0; j < 8; j++) le[j] = (unsigned char)(v >> (8 * j));
            write_safetensors(k ? "i53p1.safetensors" : "i53.safetensors",
                              "{\"n\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", le, 8);
        }
        snprintf(cmd, sizeof cmd, "cd '%s' && %s diff i53p1.safetensors i53.safetensors --rtol 0 --atol 0 > d.txt",
                 dir, BLASTO_CLI);
        int rc = test_run_shell(cmd, dir, err, sizeof err);
        CHECK(rc == 1, "diff: I64 2^53+1 vs 2^53 differs at rtol = atol = 0 (exit %d, want 1): %s", rc, err);
    }

    /* a bad training option is a usage error (exit 2), reported before anything is read or written */
    snprintf(cmd, sizeof cmd, "cd '%s' && %s train --cohort c/cohort.csv --split split.csv --fold 0 --out rlr --lr 10",
             dir, BLASTO_CLI);
    {
        int rc = test_run_shell(cmd, dir, err, sizeof err);
        struct stat sb;
        char p[1024];
        CHECK(rc == 2 && !strcmp(err, "blasto train: --lr: expected (0, 10) (got 10)\n") &&
                  stat(test_path_in(p, sizeof p, dir, "rlr"), &sb) != 0,
              "train --lr 10: exit 2, one line, no RUN/ (got %d: %s)", rc, err);
    }

    /* infer failing after it made its --dump-activations folder (the weights are truncated) leaves no folder */
    {
        float *x = calloc(3 * 32 * 32, sizeof(float));
        if (x) write_safetensors("x32.safetensors", "{\"input\":{\"dtype\":\"F32\",\"shape\":[1,3,32,32],"
                                 "\"data_offsets\":[0,12288]}}", x, 3 * 32 * 32 * sizeof(float));
        free(x);
        BAD("infer", "weights truncated, with --dump-activations",
            "infer --arch densenet121 --weights trunc.safetensors --input x32.safetensors --output y.safetensors "
            "--dump-activations dumped", "trunc.safetensors: ", "dumped");
    }

    /* failures after the output folder was made leave no folder: an experiment whose split fails, a training whose
     * first epoch meets an unreadable image */
    write_text("xsplit.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 12, \"folds\": 2}");
    BAD("experiment", "the split fails after DIR was made", "experiment --config xsplit.json --out xs",
        "test count", "xs");
    snprintf(cmd, sizeof cmd, "cd '%s' && sed 's#images/synth_0005.png#../mtext.png#' c/cohort.csv > c/cbad.csv && "
             "%s train --cohort c/cbad.csv --split split.csv --fold 0 --arch densenet121 --size 32 --batch 4 "
             "--epochs 1 --out rb", dir, BLASTO_CLI);
    { /* (train's notes come first on stderr, so this is not a one-line row) */
        int rc = test_run_shell(cmd, dir, err, sizeof err);
        struct stat sb;
        char p[1024];
        CHECK(rc == 1 && strstr(err, "mtext.png: not a PNG/JPEG/BMP image") &&
                  stat(test_path_in(p, sizeof p, dir, "rb"), &sb) != 0,
              "train meeting an unreadable image in its first epoch: exit 1, the image named, no RUN/ (got %d: %s)",
              rc, err);
    }

    /* a device the config asks for and this machine lacks: the message names the config file and the key */
    {
        bl_device_options cuda = {0};
        const bl_kernels *k = NULL;
        int have_cuda = bl_device_options_set(&cuda, "cuda") == BL_OK && bl_device_open_options(&cuda, &k) == BL_OK;
        write_text("xcuda.json", "{\"cohort\": \"c/cohort.csv\", \"test_count\": 2, \"device\": \"cuda\"}");
        if (!have_cuda)
            BAD("experiment config", "device cuda without a GPU", "experiment --config xcuda.json --out xo",
                "xcuda.json: device: ", "xo");
        else
            printf("skipped: the config device row (this machine has a usable CUDA device)\n");
    }

    /* a missing age is imputed, and said: predict names how many rows had none */
    snprintf(cmd, sizeof cmd, "cd '%s' && awk -F, -v OFS=, 'NR == 3 { $4 = \"\" } 1' c/cohort.csv > c/noage.csv && "
             "%s predict --model run/best.safetensors --cohort c/noage.csv --out pna.csv > /dev/null", dir, BLASTO_CLI);
    {
        int rc = test_run_shell(cmd, dir, err, sizeof err);
        CHECK(rc == 0 && strstr(err, "blasto predict: 1 of the 12 rows have no age: their age input is the training "
                                     "rows' mean (z = 0)"),
              "predict says that a missing age was imputed (exit %d: %s)", rc, err);
    }

    /* a run killed before its first checkpoint: --resume says there is nothing to resume and removes what the kill
     * left (a temporary of a process that no longer exists) */
    snprintf(cmd, sizeof cmd, "cd '%s' && mkdir -p killed && touch killed/last.safetensors.tmp.%ld", dir,
             (long)dead_pid());
    CHECK(system(cmd) == 0, "fixture: a killed run");
    BAD("train --resume", "killed before its first checkpoint", "train --resume --out killed",
        "killed: nothing to resume: last.safetensors is missing (the run stopped before its first epoch ended); run "
        "the same command without --resume", NULL);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s/killed')\"", dir);
    CHECK(system(cmd) == 0, "train --resume removed the killed run's temporary");

    /* ---- the environment: a BLASTO_THREADS blasto cannot use is an error, not silently the core count ---- */
    const char *bad_threads[] = {"0", "abc", "99999"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "cd '%s' && BLASTO_THREADS=%s %s info >/dev/null", dir, bad_threads[i], BLASTO_CLI);
        int rc = test_run_shell(cmd, dir, err, sizeof err);
        char want[160];
        snprintf(want, sizeof want, "blasto: BLASTO_THREADS: expected a whole number in [1, 1024], got '%s'\n",
                 bad_threads[i]);
        CHECK(rc == 2 && !strcmp(err, want), "BLASTO_THREADS=%s: exit 2 and one line (got %d: %s)", bad_threads[i], rc,
              err);
    }


    if (test_failed) printf("kept %s for inspection\n", dir);
    else test_remove_tree(dir);
    return test_summary("test_bad_input");
}
