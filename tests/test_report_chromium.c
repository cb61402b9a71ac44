/* test_report_chromium.c — the report as a browser sees it: headless Chromium (Debian `chromium`) loads the report
 * of the hand-made run directory (support/report_fixture.c) and
 *   1. logs no console message for the page (the page has no script, so any console line is the browser
 *      complaining about it: a parse problem, a blocked load, a broken image); a control page that calls
 *      console.error must be caught by the same rule, so the rule can fail;
 *   2. takes a 1280×4000 screenshot that stb_image reads and that is not blank: pixel variance > 0 and more than
 *      64 distinct colours (the plots, tables and embedded overlays);
 *   3. dumps a DOM (--dump-dom) holding every section id, as many <svg elements as the report file and the four
 *      embedded images.
 * Skipped (exit 77) when neither `chromium` nor `chromium-browser` is installed. Chromium runs with HOME and its
 * profile in the test's temp dir, --no-sandbox (CI runs as root) and a 120 s timeout per run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

#include "harness.h"
#include "study/report.h"
#include "support/report_fixture.h"
#include "support/test_support.h"

static char dir[512], browser[512];

static int find_browser(void) {
    FILE *p = popen("command -v chromium || command -v chromium-browser", "r");
    if (!p) return 0;
    int found = fgets(browser, sizeof browser, p) != NULL;
    pclose(p);
    browser[strcspn(browser, "\n")] = '\0';
    return found && browser[0];
}

/* Runs the browser on page with `mode` (e.g. "--screenshot=… --window-size=…"), stdout to out_file, stderr to
 * log_file (in a subshell: test_run_shell appends its own 2> to the whole line). Returns the exit code. */
static int run_browser(const char *page, const char *mode, const char *out_file, const char *log_file,
                       const char *profile) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "(cd '%s' && HOME='%s/home' timeout 120 '%s' --headless --no-sandbox --disable-gpu --no-first-run "
             "--no-default-browser-check --disable-extensions --hide-scrollbars --user-data-dir='%s/%s' "
             "--enable-logging=stderr --v=0 --virtual-time-budget=3000 %s 'file://%s' > '%s' 2> '%s')",
             dir, dir, browser, dir, profile, mode, page, out_file, log_file);
    return test_run_shell(cmd, dir, NULL, 0);
}

/* Lines of the log that report a console message of the page. */
static int console_lines(const char *log, const char *show_as) {
    int count = 0;
    for (const char *line = log; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 500 ? len : 500), line);
        if (strstr(buf, ":CONSOLE") || strstr(buf, "Uncaught")) {
            count++;
            if (show_as) fprintf(stderr, "%s: %s\n", show_as, buf);
        }
        line = end ? end + 1 : NULL;
    }
    return count;
}

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *s = strstr(text, needle); s; s = strstr(s + 1, needle)) n++;
    return n;
}

static void check_screenshot(const char *path) {
    int w = 0, h = 0, channels = 0;
    unsigned char *px = stbi_load(path, &w, &h, &channels, 3);
    CHECK(px != NULL, "screenshot readable by stb: %s", px ? "" : stbi_failure_reason());
    if (!px) return;
    CHECK(w == 1280 && h == 4000, "screenshot size %dx%d (expected 1280x4000)", w, h);
    /* variance of the gray level, and distinct 24-bit colours counted in a bitmap */
    double sum = 0, sum2 = 0;
    size_t n = (size_t)w * h;
    uint8_t *seen = calloc(1u << 21, 1);
    int distinct = 0;
    for (size_t i = 0; seen && i < n; i++) {
        const unsigned char *p = px + 3 * i;
        double g = (p[0] + p[1] + p[2]) / 3.0;
        sum += g, sum2 += g * g;
        uint32_t c = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        if (!(seen[c >> 3] & (1u << (c & 7)))) seen[c >> 3] |= (uint8_t)(1u << (c & 7)), distinct++;
    }
    double mean = sum / n, variance = sum2 / n - mean * mean;
    CHECK(variance > 0, "screenshot not blank: gray variance %g", variance);
    CHECK(distinct > 64, "screenshot has %d distinct colours (expected > 64)", distinct);
    free(seen);
    stbi_image_free(px);
}

int main(void) {
    if (!find_browser()) return test_skip("chromium not installed");
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_test_report_chromium")) return test_skip("cannot make a temp dir");
    char path[1024], shot[1024], log[1024], dom[1024], out[1024], control[1024];
    CHECK(report_fixture_write(dir) == 0, "fixture written");
    test_path_in(path, sizeof path, dir, "report.html");
    CHECK(bl_report_write(dir, NULL) == BL_OK, "report: %s", bl_last_error());
    char *html = test_read_file(path, NULL);
    CHECK(html != NULL, "report.html");

    /* 1 + 2: screenshot, console */
    test_path_in(shot, sizeof shot, dir, "shot.png");
    test_path_in(log, sizeof log, dir, "screenshot.log");
    test_path_in(out, sizeof out, dir, "screenshot.out");
    char mode[1200];
    snprintf(mode, sizeof mode, "--screenshot='%s' --window-size=1280,4000", shot);
    int rc = run_browser(path, mode, out, log, "profile1");
    CHECK(rc == 0, "chromium --screenshot exit %d (log: %s)", rc, log);
    char *text = test_read_file(log, NULL);
    CHECK(text && console_lines(text, "console") == 0, "no console messages for the report");
    free(text);
    check_screenshot(shot);

    /* 3: the DOM as parsed */
    test_path_in(dom, sizeof dom, dir, "dom.html");
    test_path_in(log, sizeof log, dir, "dom.log");
    rc = run_browser(path, "--dump-dom", dom, log, "profile2");
    CHECK(rc == 0, "chromium --dump-dom exit %d", rc);
    text = test_read_file(dom, NULL);
    CHECK(text != NULL, "dom dumped");
    if (text && html) {
        static const char *const ids[9] = {"meta", "table1", "table2", "figure4", "roc", "delong", "calibration",
                                           "table3", "gradcam"};
        for (int i = 0; i < 9; i++) {
            char key[64];
            snprintf(key, sizeof key, "<section id=\"%s\">", ids[i]);
            CHECK(strstr(text, key) != NULL, "dom has section #%s", ids[i]);
        }
        int svg_file = count_of(html, "<svg"), svg_dom = count_of(text, "<svg");
        CHECK(svg_file == 4 && svg_dom == svg_file, "svg elements: %d in the DOM, %d in the file", svg_dom, svg_file);
        CHECK(count_of(text, "src=\"data:image/png;base64,") == 4, "4 embedded images in the DOM");
        CHECK(strstr(text, "id=\"roc-svg\"") && strstr(text, "<polyline"), "roc svg parsed with its polylines");
    }
    free(text);

    /* the console rule can fail: a control page with console.error */
    test_path_in(control, sizeof control, dir, "control.html");
    test_write_text(control, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>c</title></head><body>"
                             "<p>control</p><script>console.error('report-test-control')</script></body></html>\n");
    test_path_in(log, sizeof log, dir, "control.log");
    test_path_in(out, sizeof out, dir, "control.out");
    rc = run_browser(control, "--dump-dom", out, log, "profile3");
    text = test_read_file(log, NULL);
    CHECK(rc == 0 && text && console_lines(text, NULL) >= 1 && strstr(text, "report-test-control"),
          "the control page's console.error is caught (exit %d)", rc);
    free(text);
    free(html);
    test_remove_tree(dir);
    return test_summary("test_report_chromium");
}
