#include "cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "grow.h"

void run_argv_add(struct run_argv *s, const char *str)
{
    if (s->oom)
        return;
    char **v = grow_array(s->v, &s->cap, s->n + 2, sizeof(*s->v)); /* + the NULL after */
    if (!v) {
        s->oom = true;
        return;
    }
    s->v = v;
    char *d = strdup(str);
    if (!d) {
        s->oom = true;
        return;
    }
    s->v[s->n++] = d;
    s->v[s->n] = NULL;
}

void run_argv_addf(struct run_argv *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    run_argv_add(s, buf);
}

void run_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

void run_argv_settings(struct run_argv *s, const struct scenario_prog *p)
{
    for (size_t i = 0; i < p->nset; i++) {
        const struct scenario_setting *st = p->set[i];
        if (!st->vals) {
            run_argv_addf(s, "--%s", st->name);
            continue;
        }
        for (size_t j = 0; j < st->nvals; j++) {
            run_argv_addf(s, "--%s", st->name);
            run_argv_add(s, st->vals[j]);
        }
    }
}

/* The value of the placeholder at p (rep), and its length in the template; 0 when p does not
 * start one. */
static size_t placeholder(const char *p, const struct run_vars *v, char *rep, size_t len)
{
    static const char *const names[] = {"{listen_port}", "{upstream_port}", "{listen}",
                                        "{upstream}",    "{name}",          "{dir}"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        if (strncmp(p, names[i], n) != 0)
            continue;
        unsigned port = i == 0 || i == 2 ? v->listen_port : v->upstream_port;
        if (i < 2)
            snprintf(rep, len, "%u", port);
        else if (i < 4)
            snprintf(rep, len, "127.0.0.1:%u", port);
        else if (i == 4)
            snprintf(rep, len, "%s", v->name ? v->name : "proxy");
        else
            snprintf(rep, len, "%s", v->dir ? v->dir : ".");
        return n;
    }
    return 0;
}

static void subst(char *out, size_t cap, const char *word, const struct run_vars *v)
{
    size_t o = 0;
    out[0] = '\0';
    for (const char *p = word; *p && o + 1 < cap;) {
        char rep[256] = "";
        size_t skip = placeholder(p, v, rep, sizeof(rep));
        if (skip) {
            size_t l = strlen(rep);
            if (o + l >= cap)
                l = cap - o - 1;
            memcpy(out + o, rep, l);
            o += l;
            p += skip;
        } else {
            out[o++] = *p++;
        }
        out[o] = '\0';
    }
}

char **run_expand_cmd(const char *tmpl, const struct run_vars *v, const char *const *extra,
                      size_t nextra, char *err, size_t errlen)
{
    struct run_argv s = {0};
    char word[1024], full[2048];
    const char *p = tmpl;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        size_t w = 0;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p && *p != q) {
                    if (w + 1 < sizeof(word))
                        word[w++] = *p;
                    p++;
                }
                if (!*p) {
                    snprintf(err, errlen, "--proxy-cmd: unterminated %c quote", q);
                    run_argv_free(s.v);
                    return NULL;
                }
                p++;
                continue;
            }
            if (w + 1 < sizeof(word))
                word[w++] = *p;
            p++;
        }
        word[w] = '\0';
        subst(full, sizeof(full), word, v);
        run_argv_add(&s, full);
    }
    for (size_t i = 0; i < nextra; i++) {
        subst(full, sizeof(full), extra[i], v);
        run_argv_add(&s, full);
    }
    if (s.oom || s.n == 0) {
        snprintf(err, errlen, s.oom ? "out of memory" : "--proxy-cmd: empty command");
        run_argv_free(s.v);
        return NULL;
    }
    return s.v;
}

const struct kind *run_env_kind(const struct run_env *env, size_t idx, const char **bin,
                                struct run_stop *stop)
{
    bool second = env->chain && idx == 2;
    if (bin)
        *bin = second ? env->kind2_binary : env->kind_binary;
    if (stop)
        *stop = second ? env->proxy2_stop : env->proxy_stop;
    return second ? env->kind2 : env->kind;
}

bool run_env_own_proxies(const struct run_env *env)
{
    return !env->proxy_cmd && !env->kind && !(env->chain && env->kind2);
}
