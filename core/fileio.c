/* fileio.c — checked inputs, atomic outputs that never replace a device or an input, and cleanup on a signal
 * (see fileio.h). */
#define _DEFAULT_SOURCE /* lstat, realpath, O_NOFOLLOW, O_CLOEXEC */
#include "core/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the process's inputs: (device, inode) of every file opened by bl_input_open -------------------------------- */

typedef struct file_id {
    dev_t dev;
    ino_t ino;
} file_id;

static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER;
static file_id *inputs;
static size_t inputs_count, inputs_cap;

static atomic_int guard_enabled;

void bl_input_guard_enable(void) { guard_enabled = 1; }

static void remember_input(const struct stat *sb) {
    if (!guard_enabled) return;
    pthread_mutex_lock(&inputs_lock);
    int known = 0;
    for (size_t i = 0; i < inputs_count && !known; i++) known = inputs[i].dev == sb->st_dev && inputs[i].ino == sb->st_ino;
    if (!known && inputs_count == inputs_cap) {
        size_t cap = inputs_cap ? 2 * inputs_cap : 64;
        file_id *grown = realloc(inputs, cap * sizeof *grown);
        if (grown) inputs = grown, inputs_cap = cap;
    }
    if (!known && inputs_count < inputs_cap) inputs[inputs_count++] = (file_id){sb->st_dev, sb->st_ino};
    pthread_mutex_unlock(&inputs_lock);
}

static int is_input(const struct stat *sb) {
    pthread_mutex_lock(&inputs_lock);
    int known = 0;
    for (size_t i = 0; i < inputs_count && !known; i++) known = inputs[i].dev == sb->st_dev && inputs[i].ino == sb->st_ino;
    pthread_mutex_unlock(&inputs_lock);
    return known;
}

void bl_input_release(const char *path) {
    struct stat sb;
    if (!path || stat(path, &sb) != 0) return;
    pthread_mutex_lock(&inputs_lock);
    for (size_t i = 0; i < inputs_count; i++)
        if (inputs[i].dev == sb.st_dev && inputs[i].ino == sb.st_ino) {
            inputs[i] = inputs[--inputs_count];
            break;
        }
    pthread_mutex_unlock(&inputs_lock);
}

int bl_input_is_known(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0 && is_input(&sb);
}

static const char *kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a folder";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a plain file";
}

bl_status bl_input_open(const char *path, uint64_t max_bytes, FILE **f, uint64_t *size) {
    *f = NULL;
    if (size) *size = 0;
    if (!path || !*path) return bl_fail(BL_ERR_IO, "(empty path): cannot open: expected a file name");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below then refuses it */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return bl_fail(BL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return bl_fail(BL_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return bl_fail(BL_ERR_IO, "%s: cannot read: not a regular file (%s)", path, kind_of(sb.st_mode));
    }
    if (max_bytes && (uint64_t)sb.st_size > max_bytes) {
        close(fd);
        return bl_fail(BL_ERR_FORMAT, "%s: file too large (expected at most %llu bytes, got %lld)", path,
                       (unsigned long long)max_bytes, (long long)sb.st_size);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    FILE *stream = fdopen(fd, "rb");
    if (!stream) {
        int e = errno;
        close(fd);
        return bl_fail(BL_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    remember_input(&sb);
    *f = stream;
    if (size) *size = (uint64_t)sb.st_size;
    return BL_OK;
}

bl_status bl_read_file(const char *path, size_t max_bytes, char **text_out, size_t *size_out) {
    *text_out = NULL;
    *size_out = 0;
    FILE *f = NULL;
    uint64_t size64 = 0;
    bl_status st = bl_input_open(path, max_bytes, &f, &size64);
    if (st) return st;
    if (size64 >= (uint64_t)SIZE_MAX) {
        fclose(f);
        return bl_fail(BL_ERR_NOMEM, "%s: file of %llu bytes does not fit in memory", path, (unsigned long long)size64);
    }
    size_t size = (size_t)size64;
    char *text = malloc(size + 1);
    if (!text) {
        fclose(f);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory reading the file (%zu bytes)", path, size + 1);
    }
    size_t got = fread(text, 1, size, f);
    int bad = ferror(f), e = errno;
    /* one more byte must hit end-of-file, else the file grew while we read it */
    int grew = !bad && got == size && fgetc(f) != EOF;
    fclose(f);
    if (bad || got != size || grew) {
        free(text);
        if (bad) return bl_fail(BL_ERR_IO, "%s: cannot read: %s", path, strerror(e));
        return bl_fail(BL_ERR_IO, "%s: file changed while being read (expected %zu bytes, got %s%zu)", path, size,
                       grew ? "more than " : "", got);
    }
    text[size] = '\0';
    *text_out = text;
    *size_out = size;
    return BL_OK;
}

/* ---- what a signal removes ------------------------------------------------------------------------------------ */

static pthread_mutex_t cleanup_lock = PTHREAD_MUTEX_INITIALIZER;
static char **cleanup_paths;
static size_t cleanup_count, cleanup_cap;

void bl_cleanup_add_tree(const char *path) {
    char *copy = path ? strdup(path) : NULL;
    if (!copy) return;
    pthread_mutex_lock(&cleanup_lock);
    if (cleanup_count == cleanup_cap) {
        size_t cap = cleanup_cap ? 2 * cleanup_cap : 16;
        char **grown = realloc(cleanup_paths, cap * sizeof *grown);
        if (grown) cleanup_paths = grown, cleanup_cap = cap;
    }
    if (cleanup_count < cleanup_cap) cleanup_paths[cleanup_count++] = copy, copy = NULL;
    pthread_mutex_unlock(&cleanup_lock);
    free(copy);
}

void bl_cleanup_forget(const char *path) {
    if (!path) return;
    pthread_mutex_lock(&cleanup_lock);
    for (size_t i = cleanup_count; i-- > 0;)
        if (!strcmp(cleanup_paths[i], path)) {
            free(cleanup_paths[i]);
            cleanup_paths[i] = cleanup_paths[--cleanup_count];
            break;
        }
    pthread_mutex_unlock(&cleanup_lock);
}

void bl_remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *child = malloc(n);
        if (!child) continue;
        snprintf(child, n, "%s/%s", path, e->d_name);
        bl_remove_tree(child);
        free(child);
    }
    if (d) closedir(d);
    rmdir(path);
}

/* The signal thread. Every other thread has SIGINT, SIGTERM and SIGHUP blocked, so they arrive here only, in an
 * ordinary thread where removing files and folders is safe (no async-signal restrictions). The lock is held until
 * the process ends, so no thread registers or renames anything after the removal. */
static sigset_t watched;

static void *signal_thread(void *unused) {
    (void)unused;
    int sig = 0;
    while (sigwait(&watched, &sig) != 0) {
    }
    pthread_mutex_lock(&cleanup_lock);
    for (size_t i = cleanup_count; i-- > 0;) bl_remove_tree(cleanup_paths[i]);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    raise(sig);
    _exit(128 + sig); /* not reached: the default action of the three signals ends the process */
}

int bl_cleanup_install(void) {
    static int installed;
    if (installed) return 0;
    installed = 1;
    sigemptyset(&watched);
    /* a signal the process was started with ignored stays ignored (`nohup`, a background job of a script) */
    const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction now;
        if (sigaction(signals[i], NULL, &now) == 0 && now.sa_handler != SIG_IGN) sigaddset(&watched, signals[i]);
    }
    sigset_t old;
    if (pthread_sigmask(SIG_BLOCK, &watched, &old) != 0) return -1;
    pthread_t t;
    if (pthread_create(&t, NULL, signal_thread, NULL) != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    pthread_detach(t);
    return 0;
}

/* ---- folder locks ------------------------------------------------------------------------------------------- */

bl_status bl_lock_dir(const char *path, int *fd) {
    *fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) return bl_fail(BL_ERR_IO, "%s: cannot open the folder: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return bl_fail(BL_ERR_INVALID, "%s: in use by another blasto process (a second run into the same folder "
                           "would mix their files); wait for it or choose another folder", path);
        return bl_fail(BL_ERR_IO, "%s: cannot lock the folder: %s", path, strerror(e));
    }
    return BL_OK;
}

void bl_unlock_dir(int fd) {
    if (fd >= 0) close(fd); /* closing the descriptor releases the lock */
}

/* ---- outputs -------------------------------------------------------------------------------------------------- */

static atomic_int refused;

int bl_output_refused(void) { return refused; }

static bl_status refuse(const char *fmt, const char *path, const char *detail) {
    refused = 1;
    return bl_fail(BL_ERR_INVALID, fmt, path, detail);
}

bl_status bl_output_check(const char *path, int n_inputs, const char *const *inputs_given) {
    if (!path || !*path) return refuse("%s%s: expected an output file name", "(empty path)", "");
    struct stat lsb, sb;
    if (lstat(path, &lsb) != 0) return BL_OK; /* nothing there yet; a missing folder is reported at creation */
    if (S_ISLNK(lsb.st_mode) && stat(path, &sb) != 0)
        return refuse("%s: is a symbolic link to a missing file%s", path, "");
    if (!S_ISLNK(lsb.st_mode)) sb = lsb;
    if (!S_ISREG(sb.st_mode))
        return refuse("%s: exists and is not a regular file (%s); blasto replaces only regular files", path,
                      kind_of(sb.st_mode));
    int same = is_input(&sb);
    for (int i = 0; i < n_inputs && !same; i++) {
        struct stat isb;
        same = inputs_given[i] && stat(inputs_given[i], &isb) == 0 && isb.st_dev == sb.st_dev && isb.st_ino == sb.st_ino;
    }
    if (same) return refuse("%s: is also an input of this command; choose another output%s", path, "");
    return BL_OK;
}

static void output_free(bl_output *o) {
    free(o->target);
    free(o->temp);
    o->target = o->temp = NULL;
    o->f = NULL;
}

bl_status bl_output_open(const char *path, bl_output *o) {
    memset(o, 0, sizeof *o);
    o->path = path;
    bl_status st = bl_output_check(path, 0, NULL);
    if (st) return st;
    struct stat lsb;
    if (lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
        o->target = realpath(path, NULL);
        if (!o->target) return bl_fail(BL_ERR_IO, "%s: cannot follow the symbolic link: %s", path, strerror(errno));
    } else {
        o->target = strdup(path);
    }
    size_t n = o->target ? strlen(o->target) + 32 : 0;
    o->temp = n ? malloc(n) : NULL;
    if (!o->temp) {
        output_free(o);
        return bl_fail(BL_ERR_NOMEM, "%s: out of memory for the temporary name", path);
    }
    snprintf(o->temp, n, "%s.tmp.%ld", o->target, (long)getpid());
    bl_cleanup_add_tree(o->temp);
    int fd = open(o->temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) close(fd), unlink(o->temp);
        st = bl_fail(BL_ERR_IO, "%s: cannot create temporary file '%s': %s", path, o->temp, strerror(e));
        bl_cleanup_forget(o->temp);
        output_free(o);
        return st;
    }
    return BL_OK;
}

/* After a rename, the folder entry must reach the disk for the new name to survive a crash; fsync on the folder
 * does that. Best effort: some filesystems refuse it, and the file is already complete. */
static void sync_parent_folder(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    int fd = dir ? open(dir, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

bl_status bl_output_commit(bl_output *o, int durable) {
    const char *step = "write";
    int ok = !ferror(o->f), e = errno;
    if (ok && fflush(o->f) != 0) ok = 0, step = "flush", e = errno;
    if (ok && durable && fsync(fileno(o->f)) != 0) ok = 0, step = "fsync", e = errno;
    if (fclose(o->f) != 0 && ok) ok = 0, step = "close", e = errno;
    o->f = NULL;
    if (ok && rename(o->temp, o->target) != 0) ok = 0, step = "rename", e = errno;
    bl_status st = BL_OK;
    if (!ok) {
        unlink(o->temp);
        st = bl_fail(BL_ERR_IO, "%s: cannot save: %s of '%s' failed: %s", o->path, step, o->temp, strerror(e));
    } else if (durable) {
        sync_parent_folder(o->target);
    }
    bl_cleanup_forget(o->temp);
    output_free(o);
    return st;
}

void bl_output_abort(bl_output *o) {
    if (o->f) fclose(o->f);
    if (o->temp) {
        unlink(o->temp);
        bl_cleanup_forget(o->temp);
    }
    output_free(o);
}

bl_status bl_write_file_atomic(const char *path, const void *data, size_t size) {
    bl_output o;
    bl_status st = bl_output_open(path, &o);
    if (st) return st;
    if (size && fwrite(data, 1, size, o.f) != size) {
        int e = errno;
        bl_output_abort(&o);
        return bl_fail(BL_ERR_IO, "%s: cannot save: write failed: %s", path, strerror(e));
    }
    return bl_output_commit(&o, 1);
}
