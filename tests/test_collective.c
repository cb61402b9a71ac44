/* test_collective.c — the collective operations (core/collective.h).
 *
 * Without a launcher: the world is {rank 0, size 1} and every operation leaves the data as it is. Then, when this
 * build has MPI and mpirun is installed, the test runs itself as 2 ranks (`mpirun --oversubscribe -np 2`, with
 * --allow-run-as-root as root) and each rank checks: the broadcast from rank 1; the all-reduce of buffers that
 * every rank can recompute (each rank's values come from the test RNG with the rank as index) equals their float32
 * sum in rank order, bit for bit, for a short buffer and one that spans chunk boundaries (2·BL_WORLD_CHUNK + 5
 * floats), and three repeats give the same bits; the barrier. Then rank 1 is killed (SIGKILL) while rank 0 waits for
 * it in an all-reduce: the job must end non-zero, with the launcher's line naming rank 1, within 30 s. Skipped
 * (exit 77) when MPI or mpirun is missing. */
#define _POSIX_C_SOURCE 200809L /* popen, clock_gettime */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/collective.h"
#include "harness.h"

static void rank_values(float *x, int64_t n, int rank) { test_fill_uniform(x, n, 31, (uint64_t)rank, -1.0f, 1.0f); }

static void check_allreduce(const bl_world *w, int64_t n) {
    float *x = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * (size_t)n);
    float *other = malloc(sizeof(float) * (size_t)n), *first = malloc(sizeof(float) * (size_t)n);
    rank_values(want, n, 0);
    for (int r = 1; r < w->size; r++) {
        rank_values(other, n, r);
        for (int64_t i = 0; i < n; i++) want[i] += other[i];
    }
    for (int rep = 0; rep < 3; rep++) {
        rank_values(x, n, w->rank);
        CHECK(bl_world_allreduce_sum(w, x, n) == BL_OK, "rank %d: all-reduce of %lld runs", w->rank, (long long)n);
        CHECK(!memcmp(x, want, sizeof(float) * (size_t)n), "rank %d: all-reduce of %lld floats = the rank-order sum, "
              "bit for bit (repeat %d)", w->rank, (long long)n, rep);
        if (rep == 0) memcpy(first, x, sizeof(float) * (size_t)n);
        else CHECK(!memcmp(x, first, sizeof(float) * (size_t)n), "rank %d: repeat %d gives the same bits", w->rank, rep);
    }
    free(x), free(want), free(other), free(first);
}

static int as_rank(void) {
    bl_world w;
    if (bl_world_open(&w) != BL_OK) {
        fprintf(stderr, "rank ?: %s\n", bl_last_error());
        return 1;
    }
    CHECK(w.size == 2 && w.rank >= 0 && w.rank < 2, "a world of 2 ranks (got rank %d of %d)", w.rank, w.size);
    float b[5];
    for (int i = 0; i < 5; i++) b[i] = w.rank == 1 ? (float)(10 + i) : -1.0f;
    CHECK(bl_world_broadcast(&w, b, 5, 1) == BL_OK && b[0] == 10.0f && b[4] == 14.0f, "rank %d: broadcast from 1",
          w.rank);
    const char *kill_rank = getenv("BLASTO_TEST_KILL_RANK");
    if (kill_rank && atoi(kill_rank) == w.rank) raise(SIGKILL); /* the killed-rank case: the other waits in the gather */
    check_allreduce(&w, 1000);
    check_allreduce(&w, 2 * (int64_t)BL_WORLD_CHUNK + 5);
    CHECK(bl_world_barrier(&w) == BL_OK, "rank %d: barrier", w.rank);
    CHECK(bl_world_close(&w) == BL_OK, "rank %d: finalize", w.rank);
    char name[32];
    snprintf(name, sizeof name, "test_collective rank %d", w.rank);
    return test_summary(name);
}

int main(int argc, char **argv) {
    if (bl_world_launched()) return as_rank();
    bl_world w;
    CHECK(bl_world_open(&w) == BL_OK && w.rank == 0 && w.size == 1 && !w.mpi, "no launcher: a world of one");
    float x[3] = {1.5f, -2.0f, 3.25f};
    CHECK(bl_world_allreduce_sum(&w, x, 3) == BL_OK && bl_world_broadcast(&w, x, 3, 0) == BL_OK &&
              bl_world_barrier(&w) == BL_OK && x[0] == 1.5f && x[1] == -2.0f && x[2] == 3.25f,
          "a world of one: every operation is the identity");
    CHECK(bl_world_broadcast(&w, x, 3, 1) == BL_ERR_INVALID, "broadcast from a rank outside the world is refused");
    bl_world_close(&w);
    if (!bl_world_mpi_built()) {
        test_summary("test_collective");
        return test_skip("this build has no MPI (apt-get install libopenmpi-dev openmpi-bin; rebuild)");
    }
    if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        test_summary("test_collective");
        return test_skip("mpirun is not installed (apt-get install openmpi-bin)");
    }
    /* Under LeakSanitizer (tools/check_sanitize.sh) Open MPI's own allocations — made by its dlopen'ed components
     * and kept past MPI_Finalize — are reported as leaks of the ranks; the ranks run without leak detection (the
     * world-of-one part above, with every allocation of collective.c's single-process path, keeps it). */
    const char *asan = getenv("ASAN_OPTIONS");
    char options[1024];
    snprintf(options, sizeof options, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS='%s' mpirun --oversubscribe %s -np 2 %s", options,
             geteuid() == 0 ? "--allow-run-as-root" : "", argc > 0 ? argv[0] : "test_collective");
    int rc = system(cmd);
    CHECK(rc == 0, "mpirun -np 2: both ranks passed (status %d)", rc);
    /* a rank killed while the other waits for it in an all-reduce: the launcher ends the job, non-zero, naming the
     * rank, well within 30 s */
    char killed[2300], line[512], said[4096] = "";
    snprintf(killed, sizeof killed, "BLASTO_TEST_KILL_RANK=1 %s 2>&1", cmd);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    FILE *p = popen(killed, "r");
    while (p && fgets(line, sizeof line, p))
        if (strlen(said) + strlen(line) < sizeof said) strcat(said, line);
    int status = p ? pclose(p) : -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK(status != 0 && strstr(said, "rank 1") && seconds < 30,
          "rank 1 killed: the job ends non-zero naming rank 1 within 30 s (status %d, %.1f s): %s", status, seconds,
          said);
    printf("rank 1 killed: the job ended in %.1f s, status %d\n", seconds, status);
    return test_summary("test_collective");
}
