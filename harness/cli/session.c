/* session — one run of cells, shared by run, compare and repro: load the scenarios, build the
 * matrix, check that everything it needs is there, run it, write results.json and junit.xml. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cli.h"
#include "kind.h"
#include "cmd.h"
#include "netns.h"
#include "report_html.h"

static void bin_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(buf, len, ".");
        return;
    }
    exe[n] = '\0';
    snprintf(buf, len, "%s", dirname(exe));
}

/* The program of --proxy-cmd: its first word as the cell splits it (run_expand_cmd), found
 * as the cell will exec it (child_resolve: PATH, like execvp). 0, or -1 after saying why. */
static int check_proxy_cmd(const char *cmd)
{
    struct run_vars v = {RUN_PROXY_PORT, RUN_UPSTREAM_PORT, "proxy", "."};
    char err[PATH_MAX + 256], exe[PATH_MAX];
    char **argv = run_expand_cmd(cmd, &v, NULL, 0, err, sizeof(err));
    if (!argv) {
        fprintf(stderr, "racelab: %s\n", err);
        return -1;
    }
    int rc = child_resolve(argv[0], exe, sizeof(exe), err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "racelab: --proxy-cmd: %s\n", err);
    run_argv_free(argv);
    return rc;
}

/* Everything a run needs, checked before anything starts: programs, namespace, capture. */
static int preflight(struct suite *su, struct scenario **scns, size_t nscn)
{
    bool need_proxy = false, need_netns = false;
    for (size_t i = 0; i < su->n; i++) {
        if (su->cells[i].skipped)
            continue;
        if (su->cells[i].cell.s->topo != SCENARIO_DIRECT)
            need_proxy = true;
        need_netns = true;
    }
    const char *progs[] = {"racelab-upstream", "racelab-downstream", "racelab-proxy"};
    bool own = false; /* a proxy of some cell is racelab-proxy */
    for (size_t i = 0; i < su->npx; i++) {
        const struct run_env *e = &su->px[i].env;
        own |= !e->proxy_cmd && (!e->kind || (e->chain && !e->kind2));
    }
    for (size_t i = 0; i < 3; i++) {
        if (i == 2 && (!need_proxy || !own))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", su->env.bin_dir, progs[i]);
        if (access(p, X_OK) != 0) {
            fprintf(stderr,
                    "racelab: %s: %s — racelab runs the programs next to its own binary; build "
                    "them (cmake --build BUILD_DIR --target %s)\n",
                    p, strerror(errno), progs[i]);
            return -1;
        }
    }
    if (su->px[0].env.proxy_cmd && need_proxy && check_proxy_cmd(su->px[0].env.proxy_cmd) != 0)
        return -1;
    if (!su->env.netns) {
        for (size_t i = 0; i < nscn; i++) {
            const struct scenario *s = scns[i];
            int line = s->nwire ? s->wire[0].line : 0;
            for (size_t j = 0; j < s->nmit && !line; j++)
                if (s->mit[j].nwire)
                    line = s->mit[j].wire[0].line;
            if (line) {
                fprintf(stderr,
                        "racelab: %s:%d: wire: wire faults need a network namespace per cell; "
                        "--no-netns cannot run this scenario (run without --no-netns, as root "
                        "or with unprivileged user namespaces enabled)\n",
                        s->path, line);
                return -1;
            }
        }
        return 0;
    }
    if (need_netns) {
        char err[1024];
        if (netns_probe(err, sizeof(err)) != 0) {
            fprintf(stderr, "racelab: cannot isolate cells: %s\n", err);
            return -1;
        }
    }
    return 0;
}

void cli_run_id(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, len, "%s-%ld", ts, (long)getpid());
}

void cli_default_out(char *buf, size_t len, const char *run_id)
{
    if (cli_is_dir("captures") || !cli_is_dir(RACELAB_SOURCE_DIR "/captures"))
        snprintf(buf, len, "captures/%s", run_id);
    else
        snprintf(buf, len, "%s/captures/%s", RACELAB_SOURCE_DIR, run_id);
}

void cli_session_free(struct session *ss)
{
    if (ss->locked)
        close(ss->lock_fd);
    suite_free(&ss->su);
    for (size_t i = 0; i < ss->nscn; i++)
        scenario_free(ss->scns[i]);
    for (size_t i = 0; i < ss->nkinds; i++)
        kind_free(ss->kinds[i]);
}

/* One cell of the matrix, or its --repeat repetitions one after another. */
static int add_cell(struct session *ss, const struct scenario *s, const struct scenario_mit *m,
                    size_t px, size_t index, char *err, size_t errlen)
{
    long reps = ss->cli.repeat > 1 ? ss->cli.repeat : 0;
    for (long r = reps ? 1 : 0; r <= reps; r++)
        if (suite_add_rep(&ss->su, s, m, px, ss->cli.trials, index, r, err, errlen) != 0)
            return -1;
    return 0;
}

/* Builds the matrix (the cells of --shard I/N only); --mitigation names must exist in at least
 * one scenario. */
static int build_cells(struct session *ss)
{
    struct cli *c = &ss->cli;
    char err[512];
    for (size_t k = 0; k < c->mit.n; k++) {
        bool found = false;
        for (size_t i = 0; i < ss->nscn; i++)
            if (scenario_find_mit(ss->scns[i], c->mit.v[k]))
                found = true;
        if (!found) {
            fprintf(stderr,
                    "racelab: --mitigation %s: no scenario given has it (`racelab list` "
                    "shows each scenario's mitigations)\n",
                    c->mit.v[k]);
            return -1;
        }
    }
    size_t index = 0; /* the cell's place in the whole matrix */
    for (size_t i = 0; i < ss->nscn; i++) {
        const struct scenario *s = ss->scns[i];
        for (size_t j = 0; j < s->nmit; j++) {
            bool wanted = c->mit.n == 0;
            for (size_t k = 0; k < c->mit.n; k++)
                if (strcmp(c->mit.v[k], s->mit[j].name) == 0)
                    wanted = true;
            if (!wanted)
                continue;
            for (size_t px = 0; px < ss->su.npx; px++) {
                index++;
                /* a cell is a scenario, a mitigation and, when there are several, a proxy */
                char mit[400];
                snprintf(mit, sizeof(mit), "%s%s%s", s->mit[j].name, ss->su.npx > 1 ? "@" : "",
                         ss->su.npx > 1 ? ss->su.px[px].label : "");
                if (c->shard.index > 0 && shard_of(s->name, mit, c->shard.count) != c->shard.index)
                    continue;
                if (add_cell(ss, s, &s->mit[j], px, index - 1, err, sizeof(err)) != 0) {
                    fprintf(stderr, "racelab: %s\n", err);
                    return -1;
                }
            }
        }
    }
    ss->su.cells_total = index;
    return 0;
}

static int write_outputs(struct session *ss)
{
    char path[PATH_MAX + 32];
    int rc = 0;
    json_t *res = report_results(&ss->su, ss->run_id);
    if (res)
        json_object_set_new(res, "facts", cli_facts());
    snprintf(path, sizeof(path), "%s/results.json", ss->out);
    if (!res || json_dump_file(res, path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "racelab: cannot write %s\n", path);
        rc = -1;
    }
    if (res && ss->cli.json && json_dump_file(res, ss->cli.json, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "racelab: --json: cannot write %s\n", ss->cli.json);
        rc = -1;
    }
    json_decref(res);
    snprintf(path, sizeof(path), "%s/junit.xml", ss->out);
    if (report_junit(&ss->su, path) != 0) {
        fprintf(stderr, "racelab: cannot write %s\n", path);
        rc = -1;
    }
    if (ss->cli.junit && report_junit(&ss->su, ss->cli.junit) != 0) {
        fprintf(stderr, "racelab: --junit: cannot write %s\n", ss->cli.junit);
        rc = -1;
    }
    /* report.html from what was just written (results.json and the cells' files) */
    char err[1024];
    if (rc == 0 && report_html_write(ss->out, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "racelab: report.html: %s\n", err);
        rc = -1;
    }
    return rc;
}

/* Two runs writing into one folder corrupt each other's captures (two writers on one pcap) and
 * mix their access logs: a run holds an exclusive flock on DIR/.racelab.lock for as long as it
 * lives (its cells inherit it), and a second run on the same folder is refused before it
 * writes anything. The lock file holds the owner's pid, for the message. */
int cli_lock_out(struct session *ss)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/.racelab.lock", ss->out);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "racelab: --out: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (errno == EWOULDBLOCK || errno == EAGAIN)
            fprintf(stderr,
                    "racelab: --out: %s is in use by another racelab run%s%s%s; give this run "
                    "its own folder\n",
                    ss->out, *pid ? " (pid " : "", pid, *pid ? ")" : "");
        else
            fprintf(stderr, "racelab: --out: cannot lock %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        fprintf(stderr, "racelab: --out: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    ss->lock_fd = fd;
    ss->locked = true;
    return 0;
}

/* The run's closing word: "all passed" only when every cell was checked and passed; cells that
 * were only measured (a --proxy kind without expectations), skipped or unsupported are
 * counted, so a run of them does not read as checked: "passed (3 measured, 1 unsupported)". */
void cli_summary(char *buf, size_t len, const struct suite *su, bool interrupted)
{
    if (interrupted) {
        snprintf(buf, len, "interrupted");
        return;
    }
    if (su->n == 0) {
        snprintf(buf, len, "no cell to run (passed)");
        return;
    }
    size_t n[REPORT_MEASURED + 1] = {0};
    for (size_t i = 0; i < su->n; i++)
        n[report_status(&su->cells[i])]++;
    bool ok = suite_passed(su);
    if (ok && n[REPORT_PASSED] == su->n) {
        snprintf(buf, len, "all passed");
        return;
    }
    int off = snprintf(buf, len, "%s (%zu passed", ok ? "passed" : "FAILED", n[REPORT_PASSED]);
    static const enum report_status others[] = {REPORT_FAILED, REPORT_ERROR, REPORT_MEASURED,
                                                REPORT_SKIPPED, REPORT_UNSUPPORTED};
    static const char *const words[] = {"failed", "error", "measured", "skipped", "unsupported"};
    for (size_t k = 0; k < sizeof(others) / sizeof(others[0]); k++)
        if (n[others[k]] && off > 0 && (size_t)off < len)
            off += snprintf(buf + off, len - (size_t)off, ", %zu %s", n[others[k]], words[k]);
    size_t flaky = 0; /* --repeat: a repetition failed, against a verdict that did not */
    for (size_t i = 0; i < su->n; i++) {
        enum report_status st = report_status(&su->cells[i]);
        flaky += !su->cells[i].passed && st != REPORT_FAILED && st != REPORT_ERROR;
    }
    if (flaky && off > 0 && (size_t)off < len)
        off += snprintf(buf + off, len - (size_t)off, ", %zu flaky", flaky);
    if (off > 0 && (size_t)off < len)
        snprintf(buf + off, len - (size_t)off, ")");
}

/* "racelab: 4 cells (shard 2/3 of 11), 2 at a time, into DIR" */
static void announce(const struct session *ss)
{
    const struct suite *su = &ss->su;
    char what[128] = "";
    size_t cells = su->repeat > 1 ? su->n / (size_t)su->repeat : su->n;
    if (su->shard.index > 0)
        snprintf(what, sizeof(what), " (shard %ld/%ld of %zu)", su->shard.index, su->shard.count,
                 su->cells_total);
    if (su->repeat > 1)
        snprintf(what + strlen(what), sizeof(what) - strlen(what), " × %ld repetitions",
                 su->repeat);
    fprintf(stderr, "racelab: %zu cells%s, %ld at a time, into %s\n", cells, what, su->jobs,
            ss->out);
}

/* Load, check, run, report: shared by run, compare and repro. */
int cli_execute(struct session *ss, char **paths, size_t npaths, enum report_table table,
                bool print_table)
{
    struct cli *c = &ss->cli;
    int rc = EXIT_BAD;
    ss->nscn = npaths;
    if (cli_load_all(paths, npaths, ss->scns) != 0)
        return EXIT_BAD;
    bin_dir(ss->bin, sizeof(ss->bin));
    cli_run_id(ss->run_id, sizeof(ss->run_id));
    if (c->out)
        snprintf(ss->out, sizeof(ss->out), "%s", c->out);
    else
        cli_default_out(ss->out, sizeof(ss->out), ss->run_id);
    ss->su.out_dir = ss->out;
    ss->su.env.bin_dir = ss->bin;
    ss->su.env.proxy_cmd = c->proxy_cmd;
    ss->su.env.proxy_stop = (struct run_stop){
        SIGTERM, c->proxy_stop_settle_set ? c->proxy_stop_settle : RUN_PROXY_CMD_SETTLE_MS};
    ss->su.env.netns = !c->no_netns;
    ss->su.env.capture = c->capture;
    ss->su.keep_failing = c->keep_failing;
    ss->su.env.client_kind = c->client;
    ss->su.env.server_kind = c->server;
    if (cli_proxy(ss) != 0) /* --proxy KIND: each proxy under test's env from su.env */
        return EXIT_BAD;
    ss->su.jobs = c->jobs ? c->jobs : suite_default_jobs();
    ss->su.keep_going = c->keep_going;
    ss->su.shard = c->shard;
    ss->su.repeat = c->repeat;
    ss->su.quiet = c->quiet;
    if (build_cells(ss) != 0 || preflight(&ss->su, ss->scns, ss->nscn) != 0)
        return EXIT_BAD;
    if (suite_mkdirs(ss->out) != 0) {
        fprintf(stderr, "racelab: --out: cannot create %s: %s\n", ss->out, strerror(errno));
        return EXIT_BAD;
    }
    if (cli_lock_out(ss) != 0)
        return EXIT_BAD;
    if (!c->quiet)
        announce(ss);
    int interrupted = suite_run(&ss->su) != 0;
    if (suite_fold_repeats(&ss->su) != 0) {
        fprintf(stderr, "racelab: out of memory\n");
        return EXIT_BAD;
    }
    if (print_table) {
        report_table(stdout, &ss->su, table);
        fflush(stdout);
    }
    if (write_outputs(ss) != 0)
        return EXIT_BAD;
    if (!c->quiet) {
        char what[160];
        cli_summary(what, sizeof(what), &ss->su, interrupted);
        fprintf(stderr, "racelab: %s in %.1f s; results: %s/results.json\n", what, ss->su.wall_s,
                ss->out);
    }
    rc = interrupted ? EXIT_INTERRUPTED : suite_passed(&ss->su) ? EXIT_PASS : EXIT_FAIL;
    return rc;
}
