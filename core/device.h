/* device.h — choosing the backend a context runs on, by name: `cpu` (the fast CPU kernels, the default), `ref`
 * (the plain-loop oracle) or `cuda` (one NVIDIA GPU; only in a build configured with -DBLASTO_CUDA=ON).
 *
 * Every context the pipeline and the tools create gets its op table from bl_device_open, so `--device NAME` (and the
 * experiment config's "device") reach every stage the same way. This file is the one place above cuda/ that
 * includes cuda/cuda.h (docs/architecture.md, "Device selection").
 *
 * Flags: `deterministic` asks the cuda backend for deterministic algorithms only and no float atomics; `tf32` lets
 * it use TF32 tensor-core math. Both are ignored by cpu and ref, which are always bitwise deterministic and strict
 * fp32. */
#ifndef BLASTO_DEVICE_H
#define BLASTO_DEVICE_H

#include <stddef.h>

#include "core/kernels.h"
#include "core/status.h"

#define BL_DEVICE_NAME_MAX 16

/* What the user chose (command-line flags, experiment config, training options). name "" means "cpu". */
typedef struct bl_device_options {
    char name[BL_DEVICE_NAME_MAX];
    int deterministic;
    int tf32;
} bl_device_options;

/* The op table of device `name`. Errors (one line, also in bl_last_error):
 *   "device NAME: unknown (expected cpu, ref or cuda)"
 *   "device cuda: this blasto was built without CUDA (configure with -DBLASTO_CUDA=ON)"
 *   the cuda backend's own message, e.g. "device cuda: no CUDA device visible".
 * Opening cuda twice with the same flags returns the same table; with other flags it fails (one GPU state per
 * process). */
bl_status bl_device_open(const char *name, int deterministic, int tf32, const bl_kernels **out);
/* bl_device_open(o->name, o->deterministic, o->tf32, out); o may be NULL (cpu). */
bl_status bl_device_open_options(const bl_device_options *o, const bl_kernels **out);
/* Copies a device name into o->name; fails for a name that does not fit ("device: name too long"). */
bl_status bl_device_options_set(bl_device_options *o, const char *name);

/* Peak device memory allocated through this backend so far in bytes (cuda), 0 for host backends. */
size_t bl_device_peak_bytes(const bl_kernels *k);

/* ---- for tests ----
 * Makes bl_device_open(k->name, …) return k, so pipeline code that takes a device NAME (training, predict,
 * Grad-CAM) can run on a test backend such as tests/support/guard_backend.c ("guard"). One test backend at a time;
 * NULL unregisters it. Not for production use: the CLI accepts only cpu and cuda. */
void bl_device_register_test_backend(const bl_kernels *k);

#endif
