/* bench_models.h — `blasto bench infer|train` (tools/cli/bench_models.c), called by cmd_bench.c. Internal to tools/. */
#ifndef BLASTO_TOOLS_BENCH_MODELS_H
#define BLASTO_TOOLS_BENCH_MODELS_H

/* argv[0] = "bench", argv[1] = "infer" or "train", then the options. Returns the exit code (0, 1 runtime, 2 usage). */
int bench_model_command(int argc, char **argv);

#endif
