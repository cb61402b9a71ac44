/* collective.h — the collective operations data-parallel training needs, between the processes an MPI launcher
 * (mpirun, srun) started (docs/distributed.md).
 *
 * A world is the set of processes of one run: rank r of size K. A process not started by an MPI launcher is a
 * world of size 1 in which every operation is the identity, so single-process code calls the same functions.
 * MPI is used only when this build has it (Open MPI from Debian; `blasto info` says) AND the process was started
 * by a launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment); a process started by a launcher
 * in a build without MPI is refused, because K independent copies of one run would write the same files.
 *
 * The all-reduce sums in a FIXED order: every value is the float32 sum of the ranks' values in rank order 0, 1, …,
 * K−1, so every rank gets the same bits, and a run repeated with the same K gets the same bits (MPI_Allreduce
 * leaves its order to the library). It moves data like a ring all-reduce (each rank sends and receives about twice
 * (K−1)/K of the buffer: an all-to-all hands rank q the K copies of its 1/K part, which it sums, and an all-gather
 * shares the sums), in pieces of at most K·BL_WORLD_CHUNK values, which bounds the extra memory per rank to one
 * piece. */
#ifndef BLASTO_COLLECTIVE_H
#define BLASTO_COLLECTIVE_H

#include <stdint.h>

#include "core/status.h"

#define BL_WORLD_CHUNK (1 << 22)

typedef struct bl_world {
    int rank, size;
    int local_size; /* ranks on this machine (they share its cores; 1 for the world of one) */
    int mpi; /* 1: MPI was initialised by bl_world_open (and is finalised by bl_world_close) */
} bl_world;

/* 1 when this build contains the MPI backend. */
int bl_world_mpi_built(void);
/* 1 when the environment says an MPI launcher started this process. */
int bl_world_launched(void);
/* The number of processes the launcher started, from its environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE), before MPI is
 * initialised; 0 when it does not say. */
int bl_world_launched_size(void);

/* Joins the world: MPI when launched (and built), else the single-process world {rank 0, size 1}. */
bl_status bl_world_open(bl_world *w);
bl_status bl_world_close(bl_world *w);

/* data[n] of rank `root` → every rank's data[n]. */
bl_status bl_world_broadcast(const bl_world *w, float *data, int64_t n, int root);
/* data[n] ← Σ over ranks of data[n], in rank order (above), on every rank. */
bl_status bl_world_allreduce_sum(const bl_world *w, float *data, int64_t n);
/* The same for doubles (per-row scores and losses gathered exactly: a rank's zeros add nothing). */
bl_status bl_world_allreduce_sum_f64(const bl_world *w, double *data, int64_t n);
bl_status bl_world_barrier(const bl_world *w);
/* Every rank's status of the work since the last agreement, known to every rank: BL_OK when all are BL_OK; else a
 * failed rank keeps its own status and message, and every rank that had not failed gets the status of the lowest
 * failed rank, with the error "rank R of K failed: <that rank's message>". A barrier too. */
bl_status bl_world_agree(const bl_world *w, bl_status mine);
/* 1 when this thread's last error (bl_last_error) is one bl_world_agree relayed from another rank: the failed rank
 * reports it itself, so a command prints only its own failures (one line per failed rank). */
int bl_world_error_relayed(void);

#endif
