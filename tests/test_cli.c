/* test_cli.c — the `blasto` command end to end: --help, --version, info, demo, and bad usage
 * (one-line error, exit code 2, nothing on stdout). */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "support/test_support.h"

/* Run `BLASTO_CLI args`, capture stdout (and stderr when merge), return the exit code. */
static int run(const char *args, int merge, char *out, size_t size) {
    return test_run_cli(args, merge, out, size);
}

int main(void) {
    static char out[1 << 16];
    CHECK(run("--help", 0, out, sizeof out) == 0 && strstr(out, "demo") && strstr(out, "info") &&
              strstr(out, "bench"),
          "--help lists the commands:\n%s", out);
    CHECK(run("--version", 0, out, sizeof out) == 0 && strncmp(out, "blasto ", 7) == 0, "--version: %s", out);
    CHECK(run("info", 0, out, sizeof out) == 0 && strstr(out, "gemm kernel:") && strstr(out, "threads:") &&
              strstr(out, "cpu features:"),
          "info:\n%s", out);
    CHECK(run("info --threads 2", 0, out, sizeof out) == 0 && strstr(out, "threads: 2"), "info --threads 2:\n%s", out);
    CHECK(run("tutorial --help", 0, out, sizeof out) == 0 && strstr(out, "usage: blasto tutorial"), "demo --help");
    CHECK(run("tutorial --steps 12", 0, out, sizeof out) == 0 && strstr(out, "step   12  loss") && strstr(out, "→"),
          "demo --steps 12 runs and reports the loss:\n%s", out);
    CHECK(run("nosuchcommand", 1, out, sizeof out) == 2 && strstr(out, "unknown command 'nosuchcommand'"),
          "unknown command: exit 2 and a message: %s", out);
    CHECK(run("tutorial --steps zero", 1, out, sizeof out) == 2 && strstr(out, "--steps: expected an integer"),
          "bad integer: %s", out);
    CHECK(run("info --threads 0", 1, out, sizeof out) == 2, "--threads 0 refused");
    CHECK(run("tutorial --steps 5", 0, out, sizeof out) == 0, "demo --steps 5 still exits 0");
    CHECK(run("tutorial --steps 1", 0, out, sizeof out) == 0, "one step: no fall of the loss to check, exit 0");
    return test_summary("test_cli");
}
