/* commands.h — the subcommands of the `blasto` tool. Each takes (argc, argv) with argv[0] = the subcommand name,
 * prints its own --help, writes errors as one line "blasto <cmd>: <message>" on stderr and returns the exit code
 * (0 ok, 1 runtime/input error, 2 usage error). */
#ifndef BLASTO_TOOLS_COMMANDS_H
#define BLASTO_TOOLS_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_tutorial(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_enhance(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_focus_compare(int argc, char **argv);
int cmd_gradcam(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_segment(int argc, char **argv);

/* Shared option helpers (tools/cli/cli_util.c). */
/* Parse "--threads N"-style integer; returns 0 and sets *out, or prints the error and returns 2. */
int cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out);
/* Applies --threads N (0 = keep the default); returns 0 or prints the error and returns 1. */
int cli_apply_threads(const char *cmd, long threads);
/* Joins the MPI world when an MPI launcher started the process (else the world of one; core/collective.h) and applies
 * the thread count: `threads` when > 0, else BLASTO_THREADS, else the machine's cores divided among the ranks on it.
 * 0, or 1 after printing the error ("blasto <cmd>: …"). The caller closes the world with bl_world_close. */
struct bl_world;
int cli_world_open(const char *cmd, struct bl_world *w, long threads);
/* The command's failure on stderr, one line: "blasto <cmd>: <error>" in one process; with ranks, a rank prints its
 * own failure as "blasto <cmd>: rank R of K failed: <error>" and stays silent about the failures of others (the
 * failed rank says it). */
void cli_world_error(const char *cmd, const struct bl_world *w);

/* The device flags shared by infer, grad, bench, train, predict and gradcam: `--device cpu|cuda`, `--deterministic`,
 * `--tf32`. When argv[*i] is one of them, stores it in *d, moves *i to its last word and returns 1; returns 0 for any
 * other option; prints the usage error and returns 2 for a bad or missing device name. */
struct bl_device_options;
int cli_device_option(const char *cmd, int argc, char **argv, int *i, struct bl_device_options *d);
/* Opens the chosen device once before any work so that an unusable one fails at once: returns 0, or prints
 * "blasto CMD: <the device's message>" and returns 1. */
int cli_open_device(const char *cmd, const struct bl_device_options *d);
#define CLI_DEVICE_HELP "--device cpu|cuda (cpu)  --deterministic  --tf32"

/* Progress on stderr for anything that runs longer than a few seconds: on a terminal one line redrawn in place
 * (at most 5 times a second), otherwise a plain line at most every 5 s; `last` (the end of a phase) always shows.
 * Nothing shows during the first 0.2 s (terminal) or 5 s (otherwise), so a command that fails at once prints
 * only its error line.
 * Notes are lines that stay (the progress line is cleared first). */
typedef struct cli_progress {
    int tty;
    double last;
} cli_progress;
void cli_progress_init(cli_progress *p);
void cli_progress_show(cli_progress *p, int last, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cli_progress_note(cli_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "mm:ss", "1h05m", or "--:--" for an unknown (negative or NaN) number of seconds */
void cli_eta_text(double seconds, char *buf, unsigned long size);

/* A JSON number written with the fewest of 15/16/17 significant digits that reads back to the same double (cJSON's
 * own printer is only approximately exact); null for NaN/Inf. */
struct cJSON;
struct cJSON *cli_json_number(double v);
/* Adds cli_json_number(v) under key; returns 0, or 1 on allocation failure. */
int cli_json_add_number(struct cJSON *object, const char *key, double v);

#endif
