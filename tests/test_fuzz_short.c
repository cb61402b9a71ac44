/* test_fuzz_short.c — the short fuzzing pass of the suite: tools/fuzz.sh builds the libFuzzer targets of tests/fuzz
 * (clang, ASan + UBSan, -DBLASTO_FUZZ=ON) in <build>/tests/fuzz-short/ and runs each for 20 000 executions
 * (BLASTO_FUZZ_SHORT_RUNS overrides), starting from the committed seeds and regressions. Any crash, sanitizer
 * report, leak, timeout or broken invariant fails the test; tools/fuzz.sh's table is printed. Skipped (exit 77)
 * when clang cannot link a libFuzzer binary. The first run compiles the library once more (a few minutes on 2
 * cores); later runs are incremental. The long pass (10^6 executions per target) is documented in
 * docs/reliability.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

int main(void) {
    const char *runs = getenv("BLASTO_FUZZ_SHORT_RUNS");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "BLASTO_FUZZ_BUILD=\"$PWD/fuzz-short\" sh '%s/../tools/fuzz.sh' %s 2>&1", BLASTO_TEST_DIR,
             runs && *runs ? runs : "20000");
    FILE *p = popen(cmd, "r");
    if (!p) return test_skip("cannot start tools/fuzz.sh");
    char line[1024];
    int skipped = 0;
    while (fgets(line, sizeof line, p)) {
        fputs(line, stdout);
        if (!strncmp(line, "skipped:", 8)) skipped = 1;
    }
    int status = pclose(p);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc == 77 && skipped) return test_skip("clang libFuzzer not available");
    CHECK(rc == 0, "tools/fuzz.sh: every target ran its executions with no crash (exit %d)", rc);
    return test_summary("test_fuzz_short");
}
