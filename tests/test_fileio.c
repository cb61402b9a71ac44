/* test_fileio.c — core/fileio.h: inputs are regular files checked before they are read (a FIFO does not hang),
 * outputs never replace a device, a folder, a FIFO or an input, are written through a symbolic link, leave no
 * temporary on failure, and a SIGINT/SIGTERM removes what is registered before the process ends. */
#define _DEFAULT_SOURCE /* mkfifo, symlink, lstat */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fileio.h"
#include "harness.h"
#include "support/test_support.h"

static char dir[512];

static const char *in_dir(char *buf, const char *name) { return test_path_in(buf, 1024, dir, name); }

static void put(const char *name, const char *text) {
    char p[1024];
    FILE *f = fopen(in_dir(p, name), "wb");
    int ok = f && fputs(text, f) >= 0;
    if (f) ok &= fclose(f) == 0;
    CHECK(ok, "fixture %s", name);
}

static int has(const char *name, const char *text) {
    char p[1024];
    size_t n = 0;
    char *data = test_read_file(in_dir(p, name), &n);
    int same = data && n == strlen(text) && !memcmp(data, text, n);
    free(data);
    return same;
}

static int temporaries(void) { /* entries named "*.tmp.*" in dir */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp.*' | head -1)\"", dir);
    return system(cmd) == 0 ? 0 : 1;
}

static void expect(bl_status st, bl_status want, const char *fragment, const char *what) {
    CHECK(st == want && strstr(bl_last_error(), fragment), "%s: status %d (want %d), message '%s' (want '%s')", what, st,
          want, bl_last_error(), fragment);
}

static void inputs(void) {
    char p[1024], q[1024];
    FILE *f = NULL;
    uint64_t size = 0;
    put("a.txt", "hello");
    CHECK(bl_input_open(in_dir(p, "a.txt"), 0, &f, &size) == BL_OK && size == 5, "a regular file opens: %s",
          bl_last_error());
    if (f) fclose(f);
    CHECK(mkfifo(in_dir(p, "fifo"), 0600) == 0, "mkfifo");
    time_t t0 = time(NULL);
    expect(bl_input_open(p, 0, &f, &size), BL_ERR_IO, "fifo: cannot read: not a regular file (a FIFO)", "FIFO");
    CHECK(time(NULL) - t0 < 5, "a FIFO with no writer is refused at once");
    expect(bl_input_open("/dev/urandom", 0, &f, &size), BL_ERR_IO, "not a regular file (a character device)",
           "/dev/urandom");
    expect(bl_input_open(dir, 0, &f, &size), BL_ERR_IO, "not a regular file (a folder)", "folder");
    expect(bl_input_open(in_dir(p, "a.txt"), 4, &f, &size), BL_ERR_FORMAT,
           "a.txt: file too large (expected at most 4 bytes, got 5)", "size limit");
    expect(bl_input_open(in_dir(q, "none"), 0, &f, &size), BL_ERR_IO, "none: cannot open: No such file", "missing");
    char *text = NULL;
    size_t n = 0;
    CHECK(bl_read_file(in_dir(p, "a.txt"), 100, &text, &n) == BL_OK && n == 5 && !strcmp(text, "hello"),
          "bl_read_file: %s", bl_last_error());
    free(text);
}

static void outputs(void) {
    char p[1024], q[1024];
    /* without the guard, reading a file does not protect it (a library user rewrites its own files) */
    put("in.txt", "input");
    char *text = NULL;
    size_t n = 0;
    CHECK(bl_read_file(in_dir(p, "in.txt"), 100, &text, &n) == BL_OK, "read in.txt");
    free(text);
    CHECK(bl_output_check(p, 0, NULL) == BL_OK && !bl_input_is_known(p), "guard off: in.txt may be replaced");
    /* inputs named by the caller are protected always, through a link too */
    CHECK(symlink("in.txt", in_dir(q, "in_link.txt")) == 0, "symlink");
    const char *named[] = {p};
    expect(bl_output_check(q, 1, named), BL_ERR_INVALID, "in_link.txt: is also an input of this command", "named");
    CHECK(bl_output_refused(), "the refusal is recorded (the blasto command exits 2)");
    /* with the guard on, every input read since is protected; a released one is not */
    bl_input_guard_enable();
    CHECK(bl_read_file(p, 100, &text, &n) == BL_OK, "read in.txt again");
    free(text);
    expect(bl_write_file_atomic(p, "x", 1), BL_ERR_INVALID, "in.txt: is also an input of this command", "guard on");
    CHECK(has("in.txt", "input"), "the input is untouched");
    bl_input_release(p);
    CHECK(bl_write_file_atomic(p, "new", 3) == BL_OK && has("in.txt", "new"), "a released input may be replaced");
    /* devices, FIFOs and folders are never replaced */
    expect(bl_write_file_atomic("/dev/null", "x", 1), BL_ERR_INVALID,
           "/dev/null: exists and is not a regular file (a character device)", "/dev/null");
    struct stat sb;
    CHECK(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode), "/dev/null is still a device");
    expect(bl_write_file_atomic(in_dir(p, "fifo"), "x", 1), BL_ERR_INVALID, "(a FIFO)", "FIFO");
    expect(bl_write_file_atomic(dir, "x", 1), BL_ERR_INVALID, "(a folder)", "folder");
    expect(bl_write_file_atomic("", "x", 1), BL_ERR_INVALID, "(empty path)", "empty name");
    /* a symbolic link is written through: the link stays, its file gets the bytes */
    put("target.txt", "old");
    CHECK(symlink("target.txt", in_dir(p, "link.txt")) == 0, "symlink");
    CHECK(bl_write_file_atomic(p, "through", 7) == BL_OK, "write through a link: %s", bl_last_error());
    CHECK(lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode) && has("target.txt", "through"), "link kept, target written");
    CHECK(symlink("missing.txt", in_dir(p, "dangling.txt")) == 0, "symlink");
    expect(bl_write_file_atomic(p, "x", 1), BL_ERR_INVALID, "dangling.txt: is a symbolic link to a missing file",
           "dangling link");
    /* a missing folder: one line naming the file, nothing created */
    expect(bl_write_file_atomic(in_dir(p, "no/such.txt"), "x", 1), BL_ERR_IO, "cannot create temporary file",
           "missing folder");
    /* an aborted output leaves the target as it was and no temporary */
    put("kept.txt", "kept");
    bl_output o;
    CHECK(bl_output_open(in_dir(p, "kept.txt"), &o) == BL_OK && fputs("partial", o.f) >= 0, "open an output");
    bl_output_abort(&o);
    CHECK(has("kept.txt", "kept") && temporaries() == 0, "abort: target kept, no temporary");
    CHECK(bl_output_open(p, &o) == BL_OK && fputs("whole", o.f) >= 0 && bl_output_commit(&o, 1) == BL_OK &&
              has("kept.txt", "whole") && temporaries() == 0,
          "commit: target replaced whole, no temporary: %s", bl_last_error());
}

/* The parent's side of the pipe a forked child writes one byte to when it is ready: 1 when that byte came. */
static int child_ready(int ready[2], pid_t pid) {
    close(ready[1]);
    char c = 0;
    int ok = pid > 0 && read(ready[0], &c, 1) == 1;
    close(ready[0]);
    return ok;
}

/* A child installs the signal thread, registers a folder and opens an output, then waits; the parent sends `sig`:
 * the child must end by that signal with the folder and the temporary gone, and the old target intact. */
static void signal_cleanup(int sig) {
    char tree[1024], target[1024];
    in_dir(tree, "stage");
    in_dir(target, "precious.txt");
    put("precious.txt", "precious");
    int ready[2];
    CHECK(pipe(ready) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        bl_cleanup_install();
        mkdir(tree, 0700);
        bl_cleanup_add_tree(tree);
        char inside[1100];
        snprintf(inside, sizeof inside, "%s/file", tree);
        FILE *f = fopen(inside, "w");
        if (f) fclose(f);
        bl_output o;
        if (bl_output_open(target, &o) != BL_OK || fputs("half", o.f) < 0 || fflush(o.f) != 0) _exit(3);
        if (write(ready[1], "r", 1) != 1) _exit(4);
        for (;;) pause();
    }
    CHECK(child_ready(ready, pid), "child ready");
    CHECK(temporaries() == 1, "while the child runs, its temporary exists");
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    struct stat sb;
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sig, "signal %d: the child ended by it (status %#x)", sig, status);
    CHECK(stat(tree, &sb) != 0 && errno == ENOENT, "signal %d: the registered folder is gone", sig);
    CHECK(temporaries() == 0 && has("precious.txt", "precious"), "signal %d: no temporary, the target intact", sig);
}

/* A signal the process was started with ignored stays ignored (nohup): SIGHUP does not end the child, SIGTERM does. */
static void ignored_stays_ignored(void) {
    int ready[2];
    CHECK(pipe(ready) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        signal(SIGHUP, SIG_IGN);
        bl_cleanup_install();
        if (write(ready[1], "r", 1) != 1) _exit(4);
        for (;;) pause();
    }
    CHECK(child_ready(ready, pid), "child ready");
    kill(pid, SIGHUP);
    struct timespec pause_time = {0, 200 * 1000 * 1000};
    nanosleep(&pause_time, NULL);
    int status = 0;
    CHECK(waitpid(pid, &status, WNOHANG) == 0, "an ignored SIGHUP (nohup) does not end the process");
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "SIGTERM still does (status %#x)", status);
}

int main(void) {
    if (!test_make_tmp_dir(dir, sizeof dir, "blasto_fileio")) return test_skip("no temporary directory");
    inputs();
    signal_cleanup(SIGINT);
    signal_cleanup(SIGTERM);
    ignored_stays_ignored();
    outputs();
    if (test_failed) printf("kept %s for inspection\n", dir);
    else test_remove_tree(dir);
    return test_summary("test_fileio");
}
