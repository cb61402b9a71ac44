/* collective.c — see collective.h. The MPI parts are compiled when the build found MPI (BLASTO_HAVE_MPI). */
#include "core/collective.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef BLASTO_HAVE_MPI
#include <mpi.h>
#endif

int bl_world_mpi_built(void) {
#ifdef BLASTO_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

static const char *launcher_variable(void) {
    static const char *const names[3] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (int i = 0; i < 3; i++)
        if (getenv(names[i])) return names[i];
    return NULL;
}

int bl_world_launched(void) { return launcher_variable() != NULL; }

#ifdef BLASTO_HAVE_MPI
static bl_status mpi_fail(int code, const char *what) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    return bl_fail(BL_ERR_IO, "MPI %s: %s", what, text);
}
#endif

bl_status bl_world_open(bl_world *w) {
    *w = (bl_world){.rank = 0, .size = 1, .mpi = 0};
    const char *var = launcher_variable();
    if (!var) return BL_OK;
#ifdef BLASTO_HAVE_MPI
    int provided = 0, code = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (code != MPI_SUCCESS) return mpi_fail(code, "init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    w->mpi = 1;
    return BL_OK;
#else
    return bl_fail(BL_ERR_INVALID, "started by an MPI launcher (%s=%s), but this blasto was built without MPI: each "
                   "process would run the whole job alone (install libopenmpi-dev and rebuild, or run without the "
                   "launcher)", var, getenv(var));
#endif
}

bl_status bl_world_close(bl_world *w) {
#ifdef BLASTO_HAVE_MPI
    if (w->mpi) {
        w->mpi = 0;
        int code = MPI_Finalize();
        if (code != MPI_SUCCESS) return mpi_fail(code, "finalize");
    }
#endif
    (void)w;
    return BL_OK;
}

bl_status bl_world_broadcast(const bl_world *w, float *data, int64_t n, int root) {
    if (root < 0 || root >= w->size) return bl_fail(BL_ERR_INVALID, "broadcast: root %d outside 0..%d", root, w->size - 1);
    if (w->size == 1) return BL_OK;
#ifdef BLASTO_HAVE_MPI
    for (int64_t at = 0; at < n; at += BL_WORLD_CHUNK) {
        int count = (int)(n - at < BL_WORLD_CHUNK ? n - at : BL_WORLD_CHUNK);
        int code = MPI_Bcast(data + at, count, MPI_FLOAT, root, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) return mpi_fail(code, "broadcast");
    }
    return BL_OK;
#else
    (void)data, (void)n;
    return bl_fail(BL_ERR_INVALID, "broadcast: a world of %d ranks without MPI", w->size);
#endif
}

bl_status bl_world_allreduce_sum(const bl_world *w, float *data, int64_t n) {
    if (w->size == 1) return BL_OK;
#ifdef BLASTO_HAVE_MPI
    float *all = NULL;
    int64_t chunk = n < BL_WORLD_CHUNK ? n : BL_WORLD_CHUNK;
    if (w->rank == 0 && !(all = malloc(sizeof(float) * (size_t)(chunk * w->size + 1))))
        return bl_fail(BL_ERR_NOMEM, "all-reduce: out of memory for %d × %lld floats", w->size, (long long)chunk);
    bl_status st = BL_OK;
    for (int64_t at = 0; !st && at < n; at += BL_WORLD_CHUNK) {
        int count = (int)(n - at < BL_WORLD_CHUNK ? n - at : BL_WORLD_CHUNK);
        int code = MPI_Gather(data + at, count, MPI_FLOAT, all, count, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) {
            st = mpi_fail(code, "all-reduce (gather)");
            break;
        }
        if (w->rank == 0)
            for (int i = 0; i < count; i++) {
                float s = all[i];
                for (int r = 1; r < w->size; r++) s += all[(int64_t)r * count + i]; /* rank order */
                data[at + i] = s;
            }
        code = MPI_Bcast(data + at, count, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) st = mpi_fail(code, "all-reduce (broadcast)");
    }
    free(all);
    return st;
#else
    (void)data, (void)n;
    return bl_fail(BL_ERR_INVALID, "all-reduce: a world of %d ranks without MPI", w->size);
#endif
}

bl_status bl_world_barrier(const bl_world *w) {
    if (w->size == 1) return BL_OK;
#ifdef BLASTO_HAVE_MPI
    int code = MPI_Barrier(MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? BL_OK : mpi_fail(code, "barrier");
#else
    return bl_fail(BL_ERR_INVALID, "barrier: a world of %d ranks without MPI", w->size);
#endif
}
