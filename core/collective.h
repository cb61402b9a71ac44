/* collective.h — the collective operations data-parallel training needs, between the processes an MPI launcher
 * (mpirun, srun) started (docs/distributed.md).
 *
 * A world is the set of processes of one run: rank r of size K. A process not started by an MPI launcher is a
 * world of size 1 in which every operation is the identity, so single-process code calls the same functions.
 * MPI is used only when this build has it (Open MPI from Debian; `blasto info` says) AND the process was started
 * by a launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment); a process started by a launcher
 * in a build without MPI is refused, because K independent copies of one run would write the same files.
 *
 * The all-reduce sums in a FIXED order — every rank's buffer gathered to rank 0, summed there in float32 in rank
 * order 0, 1, …, K−1, the result broadcast — so every rank gets the same bits, and a run repeated with the same K
 * gets the same bits (MPI_Allreduce leaves its order to the library). Buffers go in chunks of at most
 * BL_WORLD_CHUNK floats, which bounds rank 0's extra memory to K·BL_WORLD_CHUNK floats. */
#ifndef BLASTO_COLLECTIVE_H
#define BLASTO_COLLECTIVE_H

#include <stdint.h>

#include "core/status.h"

#define BL_WORLD_CHUNK (1 << 22)

typedef struct bl_world {
    int rank, size;
    int mpi; /* 1: MPI was initialised by bl_world_open (and is finalised by bl_world_close) */
} bl_world;

/* 1 when this build contains the MPI backend. */
int bl_world_mpi_built(void);
/* 1 when the environment says an MPI launcher started this process. */
int bl_world_launched(void);

/* Joins the world: MPI when launched (and built), else the single-process world {rank 0, size 1}. */
bl_status bl_world_open(bl_world *w);
bl_status bl_world_close(bl_world *w);

/* data[n] of rank `root` → every rank's data[n]. */
bl_status bl_world_broadcast(const bl_world *w, float *data, int64_t n, int root);
/* data[n] ← Σ over ranks of data[n], in rank order (above), on every rank. */
bl_status bl_world_allreduce_sum(const bl_world *w, float *data, int64_t n);
bl_status bl_world_barrier(const bl_world *w);

#endif
