// info.cu — runtime/driver/cuDNN/cuBLAS versions and the visible GPU, for `blasto info`.
#include "cuda/info.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdio.h>

extern "C" int bl_cuda_describe(char *buf, size_t size) {
    int runtime = 0, driver = 0, devices = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);  // 0 when no driver is installed
    if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
    size_t k = 0;
    k += (size_t)snprintf(buf + k, size - k, "cuda runtime: %d.%d\ncuda driver: %d.%d\n", runtime / 1000,
                          (runtime % 1000) / 10, driver / 1000, (driver % 1000) / 10);
    if (k < size) {
        size_t cudnn = cudnnGetVersion();
        k += (size_t)snprintf(buf + k, size - k, "cudnn: %zu (headers %d.%d.%d)\n", cudnn, CUDNN_MAJOR, CUDNN_MINOR,
                              CUDNN_PATCHLEVEL);
    }
    if (k < size) {
        int cublas = 0;
        cublasHandle_t handle = nullptr;
        if (devices > 0 && cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS) {
            cublasGetVersion(handle, &cublas);
            cublasDestroy(handle);
            k += (size_t)snprintf(buf + k, size - k, "cublas: %d\n", cublas);
        } else {
            k += (size_t)snprintf(buf + k, size - k, "cublas: headers %d.%d.%d\n", CUBLAS_VER_MAJOR, CUBLAS_VER_MINOR,
                                  CUBLAS_VER_PATCH);
        }
    }
    if (k < size)
        k += (size_t)snprintf(buf + k, size - k,
                              "cuda backend: fp32 (TF32 off unless --tf32), cuDNN direct/GEMM algorithms only, "
                              "--deterministic for deterministic cuDNN algorithms\n");
    if (devices == 0 && k < size) {
        snprintf(buf + k, size - k, "gpu: no CUDA device visible\n");
        return 0;
    }
    for (int d = 0; d < devices && k < size; d++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
        k += (size_t)snprintf(buf + k, size - k, "gpu %d: %s, %.1f GiB, compute capability %d.%d, %d SMs\n", d, p.name,
                              (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major, p.minor,
                              p.multiProcessorCount);
    }
    return devices;
}
