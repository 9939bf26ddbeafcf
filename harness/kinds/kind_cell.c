/* kind_cell — the proxies of one cell through their kind: whether the kind can express their
 * settings (suite.c asks before the cell runs), their config rendered and their command line
 * (cell.c, when the cell starts them), and the version the binary reports (results.json). */
#include "kind_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"

/* The plan of proxy idx of the cell: 0, 1 with why, -1 when out of memory. */
static int plan_of(const struct kind *k, const struct scenario_cell *c, size_t idx,
                   struct kind_plan **plan, char *why, size_t whylen)
{
    const char **native = NULL;
    size_t nnative = 0;
    if (scenario_cell_native(c, k->name, &native, &nnative) != 0)
        return -1;
    int rc = kind_plan(k, &c->progs[idx], native, nnative, plan, why, whylen);
    free(native);
    return rc;
}

int kind_check_cell(const struct kind *const kinds[2], const struct scenario_cell *c, char *why,
                    size_t whylen)
{
    why[0] = '\0';
    bool chain = c->nprogs > 3;
    int result = 0;
    for (size_t idx = 1; idx + 1 < c->nprogs; idx++) {
        const struct kind *k = kinds[idx - 1];
        if (!k) /* racelab-proxy: every setting is its own */
            continue;
        struct kind_plan *plan = NULL;
        char one[2048];
        int rc = plan_of(k, c, idx, &plan, one, sizeof(one));
        if (rc < 0)
            return -1;
        kind_plan_free(plan);
        if (rc == 0)
            continue;
        size_t o = strlen(why);
        snprintf(why + o, whylen - o, "%s%s%s%s", o ? "; " : "", chain ? c->progs[idx].name : "",
                 chain ? ": " : "", one);
        result = 1;
    }
    return result;
}

char **kind_prepare(const struct kind *k, const char *binary, const struct scenario_cell *c,
                    size_t idx, const struct kind_vars *v, char *err, size_t errlen)
{
    struct kind_plan *plan = NULL;
    char why[2048];
    int rc = plan_of(k, c, idx, &plan, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, rc < 0 ? "out of memory" : "unsupported: %s", why);
        return NULL;
    }
    char **argv = NULL;
    if (kind_render(k, plan, v, err, errlen) == 0)
        argv = kind_argv(k, KIND_START, binary, v, err, errlen);
    kind_plan_free(plan);
    return argv;
}

void kind_version(const struct kind *k, const char *binary, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!k->nversion)
        return;
    int fd[2];
    if (pipe(fd) != 0)
        return;
    struct run_argv a = {0};
    run_argv_add(&a, binary);
    for (size_t i = 0; i < k->nversion; i++)
        run_argv_add(&a, k->version[i]);
    pid_t pid = a.oom ? -1 : fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        execv(binary, a.v);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (pid > 0 && n + 1 < outlen && (r = read(fd[0], out + n, outlen - n - 1)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd[0]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    run_argv_free(a.v);
    out[strcspn(out, "\r\n")] = '\0';
}
