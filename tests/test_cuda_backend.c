/* test_cuda_backend.c — what the cuda backend does besides its kernels (those are the op-test harness's: test_op_*):
 * the memory slots (upload/download across the 32 MiB staging chunk, the host buffer reused right after an
 * asynchronous upload, copy, fill with +0 and −0), the peak-memory accounting, and error reporting (a shape cuDNN
 * disagrees with, an invalid leading dimension: reported once, with file:line and the library's words, through
 * take_error and bl_cuda_synchronize, the backend usable afterwards). Deterministic configuration; skipped without a
 * device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels.h"
#include "harness.h"

#ifdef BLASTO_HAVE_CUDA
#include "cuda/cuda.h"

static const bl_kernels *gpu;
static uint64_t seed;

/* ---- buffers: host ones with calloc, device ones through the backend (freed at the end of each section) ---- */
#define MAX_DEVICE_BUFFERS 256
static void *device_buffers[MAX_DEVICE_BUFFERS];
static int device_buffer_count;

static float *host(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static float *rand_host(int64_t n, uint64_t idx, float lo, float hi) {
    float *p = host(n);
    test_fill_uniform(p, n, seed, idx, lo, hi);
    return p;
}
static float *dev(int64_t n) {
    float *d = gpu->mem_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!d) {
        fprintf(stderr, "cuda test: device allocation of %lld floats failed\n", (long long)n);
        exit(1);
    }
    if (device_buffer_count < MAX_DEVICE_BUFFERS) device_buffers[device_buffer_count++] = d;
    return d;
}
/* the device buffer's contents in a fresh host buffer */
static float *down(const float *d, int64_t n) {
    float *h = host(n);
    gpu->download(h, d, (size_t)n * sizeof(float));
    return h;
}
static void free_device_buffers(void) {
    for (int i = 0; i < device_buffer_count; i++) gpu->mem_free(device_buffers[i]);
    device_buffer_count = 0;
}
static void check_no_error(const char *where) {
    const char *e = gpu->take_error();
    CHECK(e == NULL, "%s: backend error: %s", where, e ? e : "");
}

/* ---- comparisons ---- */
static void check_bitwise(const char *what, const float *got, const float *want, int64_t n) {
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) bad = i;
    CHECK(bad < 0, "%s: element %lld: cuda %.9g vs expected %.9g (bitwise expected)", what, (long long)bad,
          bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
}

/* ============================================================================================================
 * memory slots
 * ========================================================================================================== */

static void test_memory(void) {
    CHECK(gpu->host_memory == 0, "cuda: host_memory is 0");
    CHECK(strcmp(gpu->name, "cuda") == 0, "cuda: name");
    /* 40 MiB: more than one 32 MiB staging chunk */
    const int64_t n = 10 * 1024 * 1024 + 3;
    float *h = rand_host(n, 1300, -1, 1), *keep = host(n);
    memcpy(keep, h, (size_t)n * 4);
    float *d = dev(n);
    gpu->upload(d, h, (size_t)n * 4);
    /* the upload returns before the device has the data: the host buffer must be ours again at once */
    for (int64_t i = 0; i < n; i++) h[i] = -7.0f;
    CHECK(bl_cuda_synchronize() == BL_OK, "bl_cuda_synchronize after an upload: %s", bl_last_error());
    float *back = down(d, n);
    check_no_error("upload/download");
    check_bitwise("upload then download (40 MiB, host buffer overwritten after upload)", back, keep, n);
    /* several small uploads in a row through the ring */
    float *small = dev(1000);
    for (int r = 0; r < 5; r++) {
        float v[1000];
        for (int i = 0; i < 1000; i++) v[i] = (float)(r * 1000 + i);
        gpu->upload(small, v, sizeof v);
        float *got = down(small, 1000);
        check_bitwise("small upload round trip", got, v, 1000);
        free(got);
    }
    /* copy and fill */
    float *d2 = dev(n);
    gpu->copy(d2, d, (size_t)n * 4);
    free(back);
    back = down(d2, n);
    check_bitwise("device copy", back, keep, n);
    gpu->fill(n, 2.5f, d2);
    free(back);
    back = down(d2, n);
    int all = 1;
    for (int64_t i = 0; i < n; i++) all &= back[i] == 2.5f;
    CHECK(all, "fill 2.5");
    gpu->fill(1000, -0.0f, d2);
    free(back);
    back = down(d2, 1000);
    all = 1;
    for (int i = 0; i < 1000; i++) all &= back[i] == 0.0f && signbit(back[i]);
    CHECK(all, "fill −0.0 keeps the sign");
    check_no_error("memory");
    CHECK(bl_cuda_peak_bytes() >= (size_t)n * 8, "peak bytes %zu counts the two 40 MiB buffers", bl_cuda_peak_bytes());
    free(h), free(keep), free(back);
    free_device_buffers();
}

/* errors: a shape cuDNN disagrees with and an invalid leading dimension are reported once, with file:line and the
 * library's words, through take_error (nothing is launched in either case, so the backend stays usable) */
static void test_errors(void) {
    CHECK(gpu->take_error() == NULL, "no error pending before the error test");
    bl_conv2d_shape bad = {.n = 2, .c_in = 3, .h_in = 13, .w_in = 11, .c_out = 8, .kh = 3, .kw = 3, .stride_h = 1,
                           .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1}; /* a 3×3 pad 1 case */
    bad.h_out = (bad.h_in + 2 * bad.pad_h - bad.dil_h * (bad.kh - 1) - 1) / bad.stride_h + 2; /* one row too many */
    bad.w_out = (bad.w_in + 2 * bad.pad_w - bad.dil_w * (bad.kw - 1) - 1) / bad.stride_w + 1;
    int64_t nx = (int64_t)bad.n * bad.c_in * bad.h_in * bad.w_in, nw = (int64_t)bad.c_out * bad.c_in * bad.kh * bad.kw;
    int64_t ny = (int64_t)bad.n * bad.c_out * bad.h_out * bad.w_out;
    float *xd = dev(nx), *wd = dev(nw), *yd = dev(ny);
    gpu->conv2d_forward(gpu, &bad, xd, wd, NULL, yd);
    const char *e = gpu->take_error();
    CHECK(e != NULL && strstr(e, "cuda/conv2d.cu:") != NULL && strstr(e, "output shape") != NULL,
          "a conv2d shape with a wrong h_out is reported: %s", e ? e : "(nothing)");
    CHECK(gpu->take_error() == NULL, "take_error clears the error");
    float *a = dev(64), *b = dev(64), *c = dev(64);
    gpu->sgemm(gpu, 0, 0, 8, 8, 8, 1.0f, a, 4 /* lda < k */, b, 8, 0.0f, c, 8);
    /* bl_cuda_synchronize hands the pending error over as a status too (and takes it) */
    CHECK(bl_cuda_synchronize() == BL_ERR_DEVICE && strstr(bl_last_error(), "cublasSgemm") != NULL,
          "an invalid lda is reported by cuBLAS through bl_cuda_synchronize: %s", bl_last_error());
    CHECK(gpu->take_error() == NULL, "bl_cuda_synchronize took the error");
    /* the backend still works afterwards */
    float ones[64], *back;
    for (int i = 0; i < 64; i++) ones[i] = 1.0f;
    gpu->upload(a, ones, sizeof ones);
    gpu->upload(b, ones, sizeof ones);
    gpu->sgemm(gpu, 0, 0, 8, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8);
    back = down(c, 64);
    int all_eight = 1;
    for (int i = 0; i < 64; i++) all_eight &= back[i] == 8.0f;
    CHECK(all_eight, "sgemm of ones after the errors gives 8");
    check_no_error("after the error test");
    free(back);
    free_device_buffers();
}

#endif

int main(void) {
#ifndef BLASTO_HAVE_CUDA
    return test_skip("this build has no CUDA backend");
#else
    if (bl_cuda_device_count() == 0) return test_skip("no CUDA device");
    seed = 20240611;
    bl_cuda_options o = {.device_index = 0, .deterministic = 1, .tf32 = 0};
    if (bl_kernels_cuda_open(&o, &gpu) != BL_OK) {
        CHECK(0, "bl_kernels_cuda_open: %s", bl_last_error());
        return test_summary("test_cuda_backend");
    }
    /* a second open with other options is refused while this one is open */
    const bl_kernels *other = NULL;
    bl_cuda_options o2 = o;
    o2.tf32 = 1;
    CHECK(bl_kernels_cuda_open(&o2, &other) != BL_OK, "a second open with other options fails");
    test_memory();
    test_errors();
    check_no_error("the end");
    bl_kernels_cuda_close();
    return test_summary("test_cuda_backend");
#endif
}
