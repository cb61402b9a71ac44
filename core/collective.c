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

int bl_world_launched_size(void) {
    static const char *const names[2] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        char *end = NULL;
        long n = v ? strtol(v, &end, 10) : 0;
        if (v && *v && !*end && n >= 1 && n <= 1 << 24) return (int)n;
    }
    return 0;
}

#ifdef BLASTO_HAVE_MPI
static bl_status mpi_fail(int code, const char *what) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    return bl_fail(BL_ERR_IO, "MPI %s: %s", what, text);
}
#endif

bl_status bl_world_open(bl_world *w) {
    *w = (bl_world){.rank = 0, .size = 1, .local_size = 1, .mpi = 0};
    const char *var = launcher_variable();
    if (!var) return BL_OK;
#ifdef BLASTO_HAVE_MPI
    int provided = 0, code = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (code != MPI_SUCCESS) return mpi_fail(code, "init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    w->mpi = 1;
    MPI_Comm node; /* the ranks that share this machine's memory: they share its cores too */
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &w->local_size);
        MPI_Comm_free(&node);
    }
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

/* The fixed-order sum of buffers of floats or doubles, bandwidth-optimal like a ring: each piece of the buffer (at
 * most BL_WORLD_CHUNK values per rank) is cut into K parts, part q belonging to rank q; an all-to-all gives every
 * rank the K copies of its own part, which it sums in rank order 0, 1, …, K−1; an all-gather gives every rank
 * every summed part. Each rank sends and receives (K−1)/K of the buffer twice; every value is the same sum, in
 * the same order, as gathering all buffers on one rank would give. */
static bl_status allreduce_fixed(const bl_world *w, void *data, int64_t n, int is_double) {
    if (w->size == 1) return BL_OK;
#ifdef BLASTO_HAVE_MPI
    int k = w->size, me = w->rank;
    size_t elem = is_double ? sizeof(double) : sizeof(float);
    MPI_Datatype type = is_double ? MPI_DOUBLE : MPI_FLOAT;
    int64_t piece = (int64_t)BL_WORLD_CHUNK * k; /* values per round: every part fits an int count */
    int64_t first = n < piece ? n : piece;
    int *counts = malloc(sizeof(int) * (size_t)k * 4), *offsets = counts + k, *rcounts = counts + 2 * k,
        *roffsets = counts + 3 * k;
    char *parts = malloc(elem * (size_t)((first + k - 1) / k + 1) * (size_t)k);
    if (!counts || !parts) {
        free(counts);
        free(parts);
        return bl_fail(BL_ERR_NOMEM, "all-reduce: out of memory for %lld values", (long long)first);
    }
    bl_status st = BL_OK;
    for (int64_t at = 0; !st && at < n; at += piece) {
        int64_t len = n - at < piece ? n - at : piece;
        for (int q = 0; q < k; q++) {
            offsets[q] = (int)(len * q / k);
            counts[q] = (int)(len * (q + 1) / k) - offsets[q];
        }
        int mine = counts[me];
        for (int q = 0; q < k; q++) rcounts[q] = mine, roffsets[q] = q * mine;
        char *base = (char *)data + (size_t)at * elem;
        int code = MPI_Alltoallv(base, counts, offsets, type, parts, rcounts, roffsets, type, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) {
            st = mpi_fail(code, "all-reduce (all-to-all)");
            break;
        }
        if (is_double) {
            const double *a = (const double *)parts;
            double *d = (double *)base + offsets[me];
            for (int i = 0; i < mine; i++) {
                double s = a[i];
                for (int r = 1; r < k; r++) s += a[(int64_t)r * mine + i]; /* rank order */
                d[i] = s;
            }
        } else {
            const float *a = (const float *)parts;
            float *d = (float *)base + offsets[me];
            for (int i = 0; i < mine; i++) {
                float s = a[i];
                for (int r = 1; r < k; r++) s += a[(int64_t)r * mine + i]; /* rank order */
                d[i] = s;
            }
        }
        code = MPI_Allgatherv(MPI_IN_PLACE, 0, type, base, counts, offsets, type, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) st = mpi_fail(code, "all-reduce (all-gather)");
    }
    free(counts);
    free(parts);
    return st;
#else
    (void)data, (void)n, (void)is_double;
    return bl_fail(BL_ERR_INVALID, "all-reduce: a world of %d ranks without MPI", w->size);
#endif
}

bl_status bl_world_allreduce_sum(const bl_world *w, float *data, int64_t n) { return allreduce_fixed(w, data, n, 0); }

bl_status bl_world_allreduce_sum_f64(const bl_world *w, double *data, int64_t n) {
    return allreduce_fixed(w, data, n, 1);
}

/* the last message bl_world_agree relayed from another rank (bl_world_error_relayed) */
static _Thread_local char relayed[1200];

int bl_world_error_relayed(void) { return relayed[0] && strcmp(relayed, bl_last_error()) == 0; }

bl_status bl_world_agree(const bl_world *w, bl_status mine) {
    if (w->size == 1) return mine;
#ifdef BLASTO_HAVE_MPI
    int *all = malloc(sizeof(int) * (size_t)w->size), failed = -1, failed_code = 0;
    if (!all) return bl_fail(BL_ERR_NOMEM, "out of memory");
    int code = MPI_Allgather(&(int){(int)mine}, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0; code == MPI_SUCCESS && r < w->size && failed < 0; r++)
        if (all[r]) failed = r, failed_code = all[r];
    free(all);
    if (code != MPI_SUCCESS) return mpi_fail(code, "agree (all-gather)");
    if (failed < 0) return BL_OK;
    char message[1024] = "";
    if (w->rank == failed) snprintf(message, sizeof message, "%s", bl_last_error());
    code = MPI_Bcast(message, (int)sizeof message, MPI_CHAR, failed, MPI_COMM_WORLD);
    if (code != MPI_SUCCESS) return mpi_fail(code, "agree (broadcast)");
    message[sizeof message - 1] = 0;
    if (mine) return mine; /* a rank that failed keeps its own message (or the one relayed to it before) */
    bl_status st = bl_fail((bl_status)failed_code, "rank %d of %d failed: %s", failed, w->size, message);
    snprintf(relayed, sizeof relayed, "%s", bl_last_error());
    return st;
#else
    (void)mine;
    return bl_fail(BL_ERR_INVALID, "agree: a world of %d ranks without MPI", w->size);
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
