#include "suite.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"
#include "expect.h"
#include "grow.h"
#include "kind.h"
#include "pack.h"
#include "peer.h"
#include "report.h"

/* Time a stopped cell gets to stop its programs and close its capture before SIGKILL. */
#define CELL_STOP_GRACE_S 20.0

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double now_s(void)
{
    return (double)clk_mono_us() / 1e6;
}

long suite_default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 8 ? 8 : n;
}

int suite_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* A cell that is not run: key ("skipped", "unsupported") says why; no trial ran, none failed. */
static int not_run(struct suite_cell *sc, const char *key, const char *why, char *err,
                   size_t errlen)
{
    sc->skipped = true;
    sc->result = run_error_cell(&sc->cell, "");
    if (!sc->result) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_object_del(sc->result, "error");
    json_object_set_new(sc->result, key, json_string(why));
    json_object_set_new(sc->result, "failures", json_integer(0));
    return 0;
}

/* Why kind's driver cannot run here (probed once per run), NULL when it can (or out of
 * memory: the cell then runs and says what failed). */
static const char *peer_missing(struct suite *su, bool client, const char *kind)
{
    if (scenario_peer_is_racelab(kind))
        return NULL;
    for (size_t i = 0; i < su->npeers; i++)
        if (su->peers[i].client == client && strcmp(su->peers[i].kind, kind) == 0)
            return su->peers[i].why;
    struct suite_peer *v = realloc(su->peers, (su->npeers + 1) * sizeof(*v));
    if (!v)
        return NULL;
    su->peers = v;
    char why[1024];
    struct suite_peer *p = &su->peers[su->npeers++];
    p->client = client;
    p->kind = kind;
    p->why = run_peer_probe(su->env.bin_dir, client, kind, why, sizeof(why)) ? strdup(why) : NULL;
    return p->why;
}

int suite_add(struct suite *su, const struct scenario *s, const struct scenario_mit *m, size_t px,
              long trials_override, char *err, size_t errlen)
{
    return suite_add_rep(su, s, m, px, trials_override, su->n, 0, err, errlen);
}

int suite_add_rep(struct suite *su, const struct scenario *s, const struct scenario_mit *m,
                  size_t px, long trials_override, size_t index, long rep, char *err, size_t errlen)
{
    const struct suite_proxy *p = &su->px[px];
    struct suite_cell *v = grow_array(su->cells, &su->cap, su->n + 1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    su->cells = v;
    struct suite_cell *sc = &su->cells[su->n];
    memset(sc, 0, sizeof(*sc));
    if (scenario_cell_build(s, m, trials_override, &sc->cell, err, errlen) != 0)
        return -1;
    sc->px = px;
    sc->px_label = su->npx > 1 ? p->label : NULL;
    if (su->npx > 1)
        snprintf(sc->dir, sizeof(sc->dir), "%s/%s/%s/%s", su->out_dir, p->label, s->name, m->name);
    else
        snprintf(sc->dir, sizeof(sc->dir), "%s/%s/%s", su->out_dir, s->name, m->name);
    if (rep > 0) {
        size_t o = strlen(sc->dir);
        snprintf(sc->dir + o, sizeof(sc->dir) - o, "/rep-%ld", rep);
    }
    sc->index = index;
    sc->rep = rep;
    su->n++;
    if (p->env.chain && s->topo == SCENARIO_PROXY) {
        char why[300];
        snprintf(why, sizeof(why),
                 "--proxy %s names the kinds of a chain's two proxies; this scenario has one "
                 "proxy (topology proxy)",
                 p->label);
        return not_run(sc, "skipped", why, err, errlen);
    }
    if (su->env.client_kind)
        sc->cell.client_kind = su->env.client_kind;
    if (su->env.server_kind)
        sc->cell.server_kind = su->env.server_kind;
    const char *missing = peer_missing(su, true, sc->cell.client_kind);
    if (!missing)
        missing = peer_missing(su, false, sc->cell.server_kind);
    if (missing)
        return not_run(sc, "skipped", missing, err, errlen);
    if ((p->env.kind || p->env.kind2) && s->topo != SCENARIO_DIRECT) {
        char why[4096];
        const struct kind *kinds[2] = {p->env.kind, p->env.chain ? p->env.kind2 : p->env.kind};
        int rc = kind_check_cell(kinds, &sc->cell, why, sizeof(why));
        if (rc < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (rc == 1) {
            sc->unsupported = true;
            return not_run(sc, "unsupported", why, err, errlen);
        }
        if (p->missing[0])
            return not_run(sc, "skipped", p->missing, err, errlen);
    }
    return 0;
}

/* The cell's process: its own process group (so that a Ctrl-C reaches only racelab, which
 * then stops the cells in order), dies with racelab (PR_SET_PDEATHSIG). */
static void cell_main(struct suite *su, struct suite_cell *sc, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(3);
    stop_flag = 0;
    json_t *cell = run_cell(&sc->cell, &su->px[sc->px].env, sc->dir, &stop_flag);
    char path[1100];
    snprintf(path, sizeof(path), "%s/cell.json", sc->dir);
    if (!cell || json_dump_file(cell, path, JSON_INDENT(1)) != 0)
        _exit(4);
    _exit(0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    return ftw->level == 0 ? 0 : remove(path);
}

static int launch(struct suite *su, struct suite_cell *sc)
{
    char path[1100];
    /* a cell folder reused by `--out` must not mix an earlier run's logs into this one's (the
     * proxy appends to its access log, as proxies do) */
    nftw(sc->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (sc->rep == 1) { /* --repeat: nor an earlier run's files beside rep-1..rep-N */
        char *slash = strrchr(sc->dir, '/');
        *slash = '\0';
        nftw(sc->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        *slash = '/';
    }
    if (suite_mkdirs(sc->dir) != 0) {
        sc->result = run_error_cell(&sc->cell, "cannot create the cell's folder");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/cell.json", sc->dir);
    unlink(path);
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "fork: %s", strerror(errno));
        sc->result = run_error_cell(&sc->cell, msg);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        cell_main(su, sc, parent);
    }
    setpgid(pid, pid);
    sc->pid = pid;
    sc->t0 = now_s();
    return 0;
}

const char *suite_cell_kind(const struct suite *su, const struct suite_cell *sc)
{
    const struct suite_proxy *p = &su->px[sc->px];
    if (p->env.chain)
        return p->label;
    return p->env.kind ? kind_name(p->env.kind) : NULL;
}

/* Every cell says which proxy it tested, so results of several runs (or of one run with
 * several) can be told apart. */
static void label_cell(const struct suite *su, const struct suite_cell *sc)
{
    if (sc->result)
        json_object_set_new(sc->result, "proxy_kind", json_string(su->px[sc->px].label));
}

static void finish(struct suite *su, struct suite_cell *sc, int status, size_t *ndone)
{
    char path[1100];
    sc->done = true;
    sc->pid = 0;
    (*ndone)++;
    snprintf(path, sizeof(path), "%s/cell.json", sc->dir);
    json_error_t je;
    json_t *cell = json_load_file(path, 0, &je);
    if (!cell) {
        char msg[300];
        if (WIFSIGNALED(status))
            snprintf(msg, sizeof(msg), "the cell's process was killed by signal %d%s",
                     WTERMSIG(status), stop_flag ? " (interrupted)" : "");
        else
            snprintf(msg, sizeof(msg), "the cell's process exited with %d without results",
                     WEXITSTATUS(status));
        cell = run_error_cell(&sc->cell, msg);
    }
    if (json_object_get(cell, "unsupported")) { /* a driver refused the cell's settings */
        sc->skipped = sc->unsupported = true;
        json_object_set_new(cell, "failures", json_integer(0));
        json_t *ex = expect_eval(NULL, 0, cell, &(bool){false});
        if (ex)
            json_object_set_new(cell, "expect", ex);
        sc->result = report_ordered(cell);
        json_decref(cell);
        sc->passed = sc->result != NULL;
        if (!sc->result)
            sc->result = run_error_cell(&sc->cell, "out of memory");
        label_cell(su, sc);
        if (!su->quiet)
            report_progress(stderr, sc, *ndone, su->n, now_s() - sc->t0);
        return;
    }
    bool passed = expect_apply(cell, &sc->cell, suite_cell_kind(su, sc));
    sc->result = report_ordered(cell);
    json_decref(cell);
    if (!sc->result)
        sc->result = run_error_cell(&sc->cell, "out of memory");
    label_cell(su, sc);
    sc->passed = passed;
    if (su->keep_failing && !pack_failing(sc->result, passed))
        pack_drop_capture(sc->result, "--keep failing: the cell passed with no failing trial");
    if (!su->quiet)
        report_progress(stderr, sc, *ndone, su->n, now_s() - sc->t0);
}

int suite_run(struct suite *su)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    stop_flag = 0;

    double t0 = now_s(), stop_at = 0;
    size_t next = 0, running = 0, ndone = 0;
    bool halt = false;
    long jobs = su->jobs > 0 ? su->jobs : suite_default_jobs();

    for (size_t i = 0; i < su->n; i++) {
        if (su->cells[i].skipped) {
            su->cells[i].done = true;
            su->cells[i].passed = true;
            bool p;
            json_t *ex = expect_eval(NULL, 0, su->cells[i].result, &p);
            if (ex)
                json_object_set_new(su->cells[i].result, "expect", ex);
            label_cell(su, &su->cells[i]);
            ndone++;
            if (!su->quiet)
                report_progress(stderr, &su->cells[i], ndone, su->n, 0);
        }
    }
    for (;;) {
        while (!stop_flag && !halt && running < (size_t)jobs && next < su->n) {
            struct suite_cell *sc = &su->cells[next++];
            if (sc->done)
                continue;
            if (launch(su, sc) != 0) {
                finish(su, sc, 0, &ndone);
                continue;
            }
            running++;
        }
        if (running == 0 && (next >= su->n || stop_flag || halt))
            break;
        if (stop_flag && stop_at == 0) {
            stop_at = now_s();
            su->interrupted = true;
            for (size_t i = 0; i < su->n; i++)
                if (su->cells[i].pid)
                    kill(su->cells[i].pid, SIGTERM);
        }
        if (stop_at && now_s() - stop_at > CELL_STOP_GRACE_S) {
            for (size_t i = 0; i < su->n; i++)
                if (su->cells[i].pid)
                    kill(-su->cells[i].pid, SIGKILL);
        }
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0) {
            clk_sleep_us(5000);
            continue;
        }
        for (size_t i = 0; i < su->n; i++) {
            struct suite_cell *sc = &su->cells[i];
            if (sc->pid != pid)
                continue;
            running--;
            /* Programs of a cell die with it (PR_SET_PDEATHSIG); this catches any that
             * survived a cell killed outright. */
            kill(-pid, SIGKILL);
            finish(su, sc, st, &ndone);
            if (!su->keep_going && json_is_true(json_object_get(sc->result, "setup_error")))
                halt = true;
        }
    }
    /* Cells never started (interrupted, or halted after an error). */
    for (size_t i = 0; i < su->n; i++) {
        struct suite_cell *sc = &su->cells[i];
        if (sc->done)
            continue;
        sc->done = true;
        sc->result = run_error_cell(&sc->cell, stop_flag ? "not run: interrupted"
                                                         : "not run: an earlier cell could not "
                                                           "start (use --keep-going to go on)");
        json_object_set_new(sc->result, "not_run", json_true());
        label_cell(su, sc);
        expect_apply(sc->result, &sc->cell, suite_cell_kind(su, sc));
        sc->passed = false;
    }
    /* what merge needs of a cell: its scenario file (for FILE:LINE) and its place in the whole
     * matrix (the order of an unsharded run) */
    for (size_t i = 0; i < su->n; i++) {
        json_object_set_new(su->cells[i].result, "scenario_file",
                            json_string(su->cells[i].cell.s->path));
        json_object_set_new(su->cells[i].result, "matrix_index",
                            json_integer((json_int_t)su->cells[i].index));
    }
    su->wall_s = now_s() - t0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return su->interrupted ? -1 : 0;
}

bool suite_passed(const struct suite *su)
{
    for (size_t i = 0; i < su->n; i++)
        if (!su->cells[i].passed)
            return false;
    return true;
}

void suite_free(struct suite *su)
{
    for (size_t i = 0; i < su->n; i++) {
        scenario_cell_free(&su->cells[i].cell);
        json_decref(su->cells[i].result);
    }
    free(su->cells);
    su->cells = NULL;
    for (size_t i = 0; i < su->npeers; i++)
        free(su->peers[i].why);
    free(su->peers);
    su->peers = NULL;
    su->npeers = 0;
    su->n = 0;
    su->cap = 0;
}
