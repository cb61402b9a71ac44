// backend.cu — the cuda backend's state, error recording, memory slots, open/close and the op table.
//
// One process-wide state (bl_cuda): device, one non-blocking stream that every kernel, cuDNN and cuBLAS call and
// every copy is queued on (so they run in program order without any other synchronisation), the cuDNN and cuBLAS
// handles bound to that stream, the cuDNN workspace, a device scratch for reductions, and the pinned staging ring
// for uploads. The backend is used from one host thread (the one that drives the context).
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/common.h"

bl_cuda_state bl_cuda;

// ---- errors -----------------------------------------------------------------------------------------------------
static char pending_error[512];  // the first failure since the last take_error ("" when none)
static char taken_error[512];    // what take_error last handed out (stays valid until the next call)

int bl_cuda_record(const char *file, int line, const char *what, const char *detail) {
    if (pending_error[0]) return 0;
    const char *base = strrchr(file, '/');
    snprintf(pending_error, sizeof pending_error, "cuda backend: %s:%d: %s failed: %s", base ? base + 1 : file, line,
             what, detail);
    return 0;
}

int bl_cuda_check_rt(cudaError_t e, const char *file, int line, const char *what) {
    if (e == cudaSuccess) return 1;
    char detail[160];
    snprintf(detail, sizeof detail, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    return bl_cuda_record(file, line, what, detail);
}

int bl_cuda_check_dnn(cudnnStatus_t e, const char *file, int line, const char *what) {
    if (e == CUDNN_STATUS_SUCCESS) return 1;
    return bl_cuda_record(file, line, what, cudnnGetErrorString(e));
}

int bl_cuda_check_blas(cublasStatus_t e, const char *file, int line, const char *what) {
    if (e == CUBLAS_STATUS_SUCCESS) return 1;
    char detail[160];
    snprintf(detail, sizeof detail, "%s (%s)", cublasGetStatusString(e), cublasGetStatusName(e));
    return bl_cuda_record(file, line, what, detail);
}

// take_error: also collects an error the runtime holds but no call of ours has seen yet (a failed launch; a fault
// of an earlier kernel shows up here once the device has reached it).
static bl_take_error_fn cuda_take_error;
static const char *cuda_take_error(void) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) bl_cuda_check_rt(e, __FILE__, __LINE__, "an earlier asynchronous operation");
    if (!pending_error[0]) return NULL;
    memcpy(taken_error, pending_error, sizeof taken_error);
    pending_error[0] = '\0';
    return taken_error;
}

// ---- device memory accounting ---------------------------------------------------------------------------------
typedef struct allocation {
    void *ptr;
    size_t bytes;
} allocation;
static allocation *allocations;
static size_t allocation_count, allocation_capacity;

static void *device_alloc(size_t bytes, const char *what) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        char detail[200];
        snprintf(detail, sizeof detail, "%s for %zu bytes (%s; %zu bytes held by this backend)", cudaGetErrorString(e),
                 bytes, what, bl_cuda.live_bytes);
        bl_cuda_record(__FILE__, __LINE__, "cudaMalloc", detail);
        cudaGetLastError();  // cudaMalloc's failure is not sticky; do not report it twice
        return NULL;
    }
    if (allocation_count == allocation_capacity) {
        size_t cap = allocation_capacity ? 2 * allocation_capacity : 64;
        allocation *grown = (allocation *)realloc(allocations, cap * sizeof *grown);
        if (!grown) {
            cudaFree(p);
            bl_cuda_record(__FILE__, __LINE__, "realloc", "out of host memory for the allocation list");
            return NULL;
        }
        allocations = grown;
        allocation_capacity = cap;
    }
    allocations[allocation_count].ptr = p;
    allocations[allocation_count].bytes = bytes;
    allocation_count++;
    bl_cuda.live_bytes += bytes;
    if (bl_cuda.live_bytes > bl_cuda.peak_bytes) bl_cuda.peak_bytes = bl_cuda.live_bytes;
    return p;
}

static void device_free(void *ptr) {
    if (!ptr) return;
    // queued kernels may still use the memory: drain the stream first (frees happen outside steady-state steps)
    if (bl_cuda.stream) CUDA_OK(cudaStreamSynchronize(bl_cuda.stream));
    for (size_t i = 0; i < allocation_count; i++) {
        if (allocations[i].ptr == ptr) {
            bl_cuda.live_bytes -= allocations[i].bytes;
            allocations[i] = allocations[--allocation_count];
            break;
        }
    }
    CUDA_OK(cudaFree(ptr));  // cudaFree waits for the device: never called inside a steady-state step
}

// Grow *buf to at least `bytes` (the stream is drained first: queued kernels may still use the old buffer).
static void *grow_device_buffer(void **buf, size_t *have, size_t bytes, const char *what) {
    if (*buf && *have >= bytes) return *buf;
    if (*buf) {
        CUDA_OK(cudaStreamSynchronize(bl_cuda.stream));
        device_free(*buf);
        *buf = NULL;
        *have = 0;
    }
    *buf = device_alloc(bytes, what);
    if (*buf) *have = bytes;
    return *buf;
}

void *bl_cuda_scratch(size_t bytes) {
    // round up to 1 MiB steps so a sequence of slightly larger requests does not reallocate every time
    size_t want = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    if (bl_cuda.scratch && bl_cuda.scratch_bytes >= bytes) return bl_cuda.scratch;
    return grow_device_buffer(&bl_cuda.scratch, &bl_cuda.scratch_bytes, want, "reduction scratch");
}

void *bl_cuda_workspace(size_t bytes) {
    if (bytes == 0) return bl_cuda.workspace;  // may be NULL: cuDNN accepts NULL with size 0
    return grow_device_buffer(&bl_cuda.workspace, &bl_cuda.workspace_bytes, bytes, "cuDNN workspace");
}

// ---- memory slots ---------------------------------------------------------------------------------------------
static bl_mem_alloc_fn cuda_mem_alloc;
static bl_mem_free_fn cuda_mem_free;
static bl_memcpy_fn cuda_upload, cuda_download, cuda_copy;

static void *cuda_mem_alloc(size_t bytes) {
    return device_alloc(bytes, "arena chunk");  // cudaMalloc memory is 256-byte aligned (≥ the 64 required)
}

static void cuda_mem_free(void *ptr) { device_free(ptr); }

#define STAGING_CHUNK ((size_t)32 << 20)  // largest piece one staging buffer holds; bigger copies are split

// A pinned buffer of the ring, at least `bytes`, once the device has finished reading its previous contents.
static void *staging_buffer(int i, size_t bytes) {
    if (!CUDA_OK(cudaEventSynchronize(bl_cuda.staging_done[i]))) return NULL;
    if (bl_cuda.staging_bytes[i] >= bytes) return bl_cuda.staging[i];
    if (bl_cuda.staging[i]) CUDA_OK(cudaFreeHost(bl_cuda.staging[i]));
    bl_cuda.staging[i] = NULL;
    bl_cuda.staging_bytes[i] = 0;
    size_t want = bytes < ((size_t)1 << 20) ? ((size_t)1 << 20) : bytes;
    if (!CUDA_OK(cudaMallocHost(&bl_cuda.staging[i], want))) return NULL;
    bl_cuda.staging_bytes[i] = want;
    return bl_cuda.staging[i];
}

// backend ← host. The bytes are copied into a pinned staging buffer and the transfer is queued on the stream; the
// call returns without waiting for the device, so the host can prepare the next batch while this one is copied
// and the previous one computes. The caller may reuse src at once (we hold our own copy); everything queued after
// this call sees the new values (one stream, program order).
static void cuda_upload(void *dst, const void *src, size_t bytes) {
    size_t done = 0;
    while (done < bytes) {
        size_t piece = bytes - done < STAGING_CHUNK ? bytes - done : STAGING_CHUNK;
        int i = bl_cuda.staging_next;
        bl_cuda.staging_next ^= 1;
        void *stage = staging_buffer(i, piece);
        if (!stage) return;
        memcpy(stage, (const char *)src + done, piece);
        if (!CUDA_OK(cudaMemcpyAsync((char *)dst + done, stage, piece, cudaMemcpyHostToDevice, bl_cuda.stream))) return;
        if (!CUDA_OK(cudaEventRecord(bl_cuda.staging_done[i], bl_cuda.stream))) return;
        done += piece;
    }
}

// host ← backend, synchronous: waits for everything queued before it (the values are final when it returns).
static void cuda_download(void *dst, const void *src, size_t bytes) {
    size_t done = 0;
    while (done < bytes) {
        size_t piece = bytes - done < STAGING_CHUNK ? bytes - done : STAGING_CHUNK;
        int i = bl_cuda.staging_next;
        bl_cuda.staging_next ^= 1;
        void *stage = staging_buffer(i, piece);
        if (!stage) return;
        if (!CUDA_OK(cudaMemcpyAsync(stage, (const char *)src + done, piece, cudaMemcpyDeviceToHost, bl_cuda.stream)))
            return;
        if (!CUDA_OK(cudaStreamSynchronize(bl_cuda.stream))) return;
        memcpy((char *)dst + done, stage, piece);
        done += piece;
    }
}

// backend ← backend, queued on the stream.
static void cuda_copy(void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_OK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, bl_cuda.stream));
}

// ---- the table --------------------------------------------------------------------------------------------------
static bl_kernels cuda_table;

static void fill_table(void) {
    bl_kernels *k = &cuda_table;
    memset(k, 0, sizeof *k);
    k->name = "cuda";
    bl_cuda_linear_slots(k);
    bl_cuda_conv2d_slots(k);
    bl_cuda_batchnorm2d_slots(k);
    bl_cuda_pool2d_slots(k);
    bl_cuda_resize_slots(k);
    bl_cuda_elementwise_slots(k);
    bl_cuda_concat_channels_slots(k);
    bl_cuda_loss_slots(k);
    bl_cuda_optim_slots(k);
    k->host_memory = 0;
    k->mem_alloc = cuda_mem_alloc;
    k->mem_free = cuda_mem_free;
    k->upload = cuda_upload;
    k->download = cuda_download;
    k->copy = cuda_copy;
    k->take_error = cuda_take_error;
}

// ---- public API (cuda/cuda.h) ------------------------------------------------------------------------------
extern "C" int bl_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // no driver / no device: not an error of ours
        return 0;
    }
    return n;
}

extern "C" size_t bl_cuda_peak_bytes(void) { return bl_cuda.peak_bytes; }

extern "C" bl_status bl_cuda_synchronize(void) {
    if (!bl_cuda.open) return bl_fail(BL_ERR_INVALID, "cuda backend: bl_cuda_synchronize before open");
    CUDA_OK(cudaStreamSynchronize(bl_cuda.stream));
    const char *e = cuda_take_error();
    return e ? bl_fail(BL_ERR_DEVICE, "%s", e) : BL_OK;
}

extern "C" void bl_kernels_cuda_close(void) {
    if (!bl_cuda.open) return;
    if (bl_cuda.stream) cudaStreamSynchronize(bl_cuda.stream);
    bl_cuda_conv_cache_clear();
    if (bl_cuda.workspace) device_free(bl_cuda.workspace);
    if (bl_cuda.scratch) device_free(bl_cuda.scratch);
    for (int i = 0; i < 2; i++) {
        if (bl_cuda.staging[i]) cudaFreeHost(bl_cuda.staging[i]);
        if (bl_cuda.staging_done[i]) cudaEventDestroy(bl_cuda.staging_done[i]);
    }
    if (bl_cuda.cublas) cublasDestroy(bl_cuda.cublas);
    if (bl_cuda.cudnn) cudnnDestroy(bl_cuda.cudnn);
    if (bl_cuda.stream) cudaStreamDestroy(bl_cuda.stream);
    size_t peak = bl_cuda.peak_bytes;  // stays readable after close (the benchmark prints it at exit)
    memset(&bl_cuda, 0, sizeof bl_cuda);
    bl_cuda.peak_bytes = peak;
    free(allocations);
    allocations = NULL;
    allocation_count = allocation_capacity = 0;
}

// Take the pending error (if any) as the open's failure message.
static bl_status open_failed(const char *fallback) {
    const char *e = cuda_take_error();
    bl_status st = bl_fail(BL_ERR_DEVICE, "%s", e ? e : fallback);
    bl_kernels_cuda_close();
    return st;
}

extern "C" bl_status bl_kernels_cuda_open(const bl_cuda_options *options, const bl_kernels **out) {
    bl_cuda_options o;
    memset(&o, 0, sizeof o);
    if (options) o = *options;
    if (o.workspace_limit == 0) o.workspace_limit = (size_t)256 << 20;
    const char *transform = getenv("BLASTO_CUDA_TRANSFORM_ALGOS");
    if (transform && strcmp(transform, "1") == 0) o.transform_algorithms = 1;
    if (bl_cuda.open) {
        if (bl_cuda.options.device_index != o.device_index || bl_cuda.options.deterministic != o.deterministic ||
            bl_cuda.options.tf32 != o.tf32 || bl_cuda.options.workspace_limit != o.workspace_limit ||
            bl_cuda.options.transform_algorithms != o.transform_algorithms)
            return bl_fail(BL_ERR_INVALID,
                           "cuda backend: already open with other options (device %d, deterministic "
                           "%d, tf32 %d); one configuration per process",
                           bl_cuda.options.device_index, bl_cuda.options.deterministic, bl_cuda.options.tf32);
        *out = &cuda_table;
        return BL_OK;
    }
    int devices = bl_cuda_device_count();
    if (devices <= 0) return bl_fail(BL_ERR_DEVICE, "cuda backend: no CUDA device visible");
    if (o.device_index < 0 || o.device_index >= devices)
        return bl_fail(BL_ERR_INVALID, "cuda backend: device index %d out of range (%d visible)", o.device_index,
                       devices);
    memset(&bl_cuda, 0, sizeof bl_cuda);  // the peak restarts at open
    bl_cuda.open = 1;
    bl_cuda.options = o;
    pending_error[0] = '\0';
    if (!CUDA_OK(cudaSetDevice(o.device_index))) return open_failed("cudaSetDevice failed");
    if (!CUDA_OK(cudaStreamCreateWithFlags(&bl_cuda.stream, cudaStreamNonBlocking)))
        return open_failed("stream creation failed");
    for (int i = 0; i < 2; i++)
        if (!CUDA_OK(cudaEventCreateWithFlags(&bl_cuda.staging_done[i], cudaEventDisableTiming)))
            return open_failed("event creation failed");
    if (!CUDNN_OK(cudnnCreate(&bl_cuda.cudnn))) return open_failed("cudnnCreate failed");
    if (!CUDNN_OK(cudnnSetStream(bl_cuda.cudnn, bl_cuda.stream))) return open_failed("cudnnSetStream failed");
    if (!CUBLAS_OK(cublasCreate(&bl_cuda.cublas))) return open_failed("cublasCreate failed");
    if (!CUBLAS_OK(cublasSetStream(bl_cuda.cublas, bl_cuda.stream))) return open_failed("cublasSetStream failed");
    if (!CUBLAS_OK(cublasSetPointerMode(bl_cuda.cublas, CUBLAS_POINTER_MODE_HOST)))
        return open_failed("cublasSetPointerMode failed");
    // cuBLAS reductions never use atomics unless allowed; say so explicitly (determinism, docs/cuda.md)
    if (!CUBLAS_OK(cublasSetAtomicsMode(bl_cuda.cublas, CUBLAS_ATOMICS_NOT_ALLOWED)))
        return open_failed("cublasSetAtomicsMode failed");
    bl_cuda_blas_set_math();
    fill_table();
    const char *e = cuda_take_error();
    if (e) {
        bl_status st = bl_fail(BL_ERR_DEVICE, "%s", e);
        bl_kernels_cuda_close();
        return st;
    }
    *out = &cuda_table;
    return BL_OK;
}
