/* openblas_gemm.c — the OpenBLAS side of tools/bench/gemm_vs_openblas.sh: times cblas_sgemm on the same shapes
 * and prints the same lines as `blasto bench gemm` ("gemm MxNxK median … min … max … GFLOP/s repeats R").
 *
 * What it is: a standalone program (not part of the blasto build, never linked into blasto) built by the script
 * with `cc -O2 openblas_gemm.c $(pkg-config --cflags --libs openblas)`. Row-major C = A·B with beta = 0, exactly
 * the call `blasto bench gemm` times. The '#' header names the OpenBLAS core (kernel family) that ran.
 *
 * usage: openblas_gemm [--shapes MxNxK,…|resnet50] [--repeats N] [--warmup N] */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_SHAPES = 64 };

static const int resnet50_gemm_shapes[][3] = {
    {64, 25088, 576}, {256, 25088, 64}, {128, 6272, 1152}, {256, 1568, 2304}, {512, 392, 4608}, {64, 100352, 147},
};

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Uniform values in [-1, 1) from a 64-bit LCG: only the timing matters here, not the numbers. */
static float *random_floats(size_t count, uint64_t state) {
    float *x = malloc(sizeof(float) * (count ? count : 1));
    if (!x) return NULL;
    for (size_t i = 0; i < count; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    }
    return x;
}

/* "MxNxK,…" (x, X or the UTF-8 ×) or "resnet50" → shapes; returns the count, 0 on a syntax error. */
static int parse_shapes(const char *text, int shapes[][3]) {
    int count = 0;
    if (strcmp(text, "resnet50") == 0) {
        for (size_t i = 0; i < sizeof resnet50_gemm_shapes / sizeof resnet50_gemm_shapes[0]; i++)
            memcpy(shapes[count++], resnet50_gemm_shapes[i], sizeof shapes[0]);
        return count;
    }
    const char *p = text;
    while (*p && count < MAX_SHAPES) {
        for (int d = 0; d < 3; d++) {
            char *end = NULL;
            long v = strtol(p, &end, 10);
            if (end == p || v < 1 || v > 1000000) return 0;
            shapes[count][d] = (int)v;
            p = end;
            if (d < 2) {
                if (*p == 'x' || *p == 'X') p += 1;
                else if ((unsigned char)p[0] == 0xC3 && (unsigned char)p[1] == 0x97) p += 2;
                else return 0;
            }
        }
        count++;
        if (*p == ',') p++;
        else if (*p) return 0;
    }
    return count;
}

int main(int argc, char **argv) {
    int shapes[MAX_SHAPES][3], count = parse_shapes("resnet50", shapes), repeats = 7, warmup = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shapes") == 0 && i + 1 < argc) count = parse_shapes(argv[++i], shapes);
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) warmup = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: openblas_gemm [--shapes MxNxK,…|resnet50] [--repeats N] [--warmup N]\n");
            return 2;
        }
    }
    if (count == 0 || repeats < 1 || warmup < 0) {
        fprintf(stderr, "openblas_gemm: bad --shapes, --repeats or --warmup\n");
        return 2;
    }
    printf("# openblas gemm: core %s, threads %d, config %s, warmup %d, repeats %d\n", openblas_get_corename(),
           openblas_get_num_threads(), openblas_get_config(), warmup, repeats);
    double *seconds = malloc(sizeof(double) * (size_t)repeats);
    for (int s = 0; s < count; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = random_floats((size_t)m * k, 1), *b = random_floats((size_t)k * n, 2);
        float *c = random_floats((size_t)m * n, 3);
        if (!a || !b || !c || !seconds) {
            fprintf(stderr, "openblas_gemm: out of memory\n");
            return 1;
        }
        for (int r = 0; r < warmup + repeats; r++) {
            double start = seconds_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
            if (r >= warmup) seconds[r - warmup] = seconds_now() - start;
        }
        qsort(seconds, (size_t)repeats, sizeof(double), compare_doubles);
        double median = repeats % 2 ? seconds[repeats / 2] : 0.5 * (seconds[repeats / 2 - 1] + seconds[repeats / 2]);
        double flops = 2.0 * m * n * k;
        printf("gemm %dx%dx%d median %.2f min %.2f max %.2f GFLOP/s repeats %d\n", m, n, k, flops / median / 1e9,
               flops / seconds[repeats - 1] / 1e9, flops / seconds[0] / 1e9, repeats);
        fflush(stdout);
        free(a), free(b), free(c);
    }
    free(seconds);
    return 0;
}
