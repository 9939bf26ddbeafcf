#include "tsup.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "clk.h"

char *tsup_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

char *tsup_tmpdir(const char *tag)
{
    /* mkdtemp's template: six 'X' at the end */
    char *t = tsup_fmt("/tmp/racelab-test-%s-%6s", tag, "");
    if (t)
        memset(t + strlen(t) - 6, 'X', 6);
    if (!t || !mkdtemp(t)) {
        free(t);
        return NULL;
    }
    return t;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tsup_rmtree(const char *dir)
{
    if (dir && getenv("RACELAB_KEEP_TMP") == NULL)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tsup_ctx_setup(void **state)
{
    struct tsup_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->dir = tsup_tmpdir(program_invocation_short_name);
    *state = c;
    return c->dir ? 0 : -1;
}

int tsup_ctx_teardown(void **state)
{
    struct tsup_ctx *c = *state;
    tsup_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

char *tsup_bin(const char *name)
{
    return tsup_fmt("%s/%s", RACELAB_BIN_DIR, name);
}

static int redirect(const char *path, int fd)
{
    if (!path)
        return 0;
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0)
        return -1;
    int rc = dup2(f, fd);
    close(f);
    return rc < 0 ? -1 : 0;
}

int tsup_spawn(struct tsup_proc *p, char *const argv[], const char *out_path, const char *err_path)
{
    memset(p, 0, sizeof(*p));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (redirect(out_path, 1) != 0 || redirect(err_path, 2) != 0)
            _exit(127);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    p->pid = pid;
    return 0;
}

int tsup_wait_port(const char *path, int timeout_ms)
{
    uint64_t deadline = clk_mono_us() + (uint64_t)timeout_ms * 1000u;
    do {
        FILE *f = fopen(path, "r");
        if (f) {
            int port = -1;
            int n = fscanf(f, "%d", &port);
            fclose(f);
            if (n == 1 && port > 0)
                return port;
        }
        clk_sleep_us(2000);
    } while (clk_mono_us() < deadline);
    return -1;
}

static int decode(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int tsup_wait(struct tsup_proc *p, int timeout_ms)
{
    if (p->reaped)
        return decode(p->status);
    uint64_t deadline = clk_mono_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        pid_t r = waitpid(p->pid, &p->status, WNOHANG);
        if (r == p->pid) {
            p->reaped = true;
            return decode(p->status);
        }
        if (r < 0)
            return -1;
        if (clk_mono_us() >= deadline)
            return -1;
        clk_sleep_us(1000);
    }
}

int tsup_stop(struct tsup_proc *p)
{
    if (p->reaped)
        return decode(p->status);
    kill(p->pid, SIGTERM);
    int rc = tsup_wait(p, 2000);
    if (rc >= 0)
        return rc;
    kill(-p->pid, SIGKILL);
    kill(p->pid, SIGKILL);
    tsup_wait(p, 2000);
    return -1;
}

int tsup_run(char *const argv[], const char *out_path, const char *err_path, int timeout_ms)
{
    struct tsup_proc p;
    if (tsup_spawn(&p, argv, out_path, err_path) != 0)
        return -1;
    int rc = tsup_wait(&p, timeout_ms);
    if (rc < 0)
        tsup_stop(&p);
    return rc;
}

char *tsup_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

char *tsup_slurp_gz(const char *path)
{
    char *gz = tsup_fmt("%s.gz", path);
    gzFile f = gzopen(access(path, F_OK) == 0 ? path : gz, "rb");
    free(gz);
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    int r;
    while (buf && (r = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) {
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    if (gzclose(f) != Z_OK || (buf && r < 0)) {
        free(buf);
        return NULL;
    }
    if (buf)
        buf[n] = '\0';
    return buf;
}

json_t *tsup_read_jsonl(const char *path)
{
    char *text = tsup_slurp_gz(path);
    if (!text)
        return NULL;
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!*line)
            continue;
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o) {
            fprintf(stderr, "%s: bad JSON line: %s (%s)\n", path, line, e.text);
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_array_append_new(arr, o);
    }
    free(text);
    return arr;
}

size_t tsup_count(json_t *arr, const char *key, const char *val)
{
    size_t n = 0, i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        json_t *v = json_object_get(o, key);
        if (!v)
            continue;
        if (!val || (json_is_string(v) && strcmp(json_string_value(v), val) == 0))
            n++;
    }
    return n;
}

int tsup_racelab(const char *dir, const char *tag, char *const *args, char **err, int timeout_ms)
{
    char *argv[32];
    size_t n = 0;
    argv[n++] = tsup_bin("racelab");
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    char *o = tsup_fmt("%s/%s.out", dir, tag), *e = tsup_fmt("%s/%s.err", dir, tag);
    int rc = tsup_run(argv, o, e, timeout_ms);
    if (err)
        *err = tsup_slurp(e);
    free(argv[0]);
    free(o);
    free(e);
    return rc;
}

json_t *tsup_results(const char *dir)
{
    char *p = tsup_fmt("%s/results.json", dir);
    json_error_t je;
    json_t *r = json_load_file(p, 0, &je);
    if (!r)
        fprintf(stderr, "%s: %s\n", p, je.text);
    free(p);
    return r;
}
