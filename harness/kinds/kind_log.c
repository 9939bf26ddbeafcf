/* kind_log — a line of a proxy's access log as racelab reads it: the adapter's access_log
 * map names the JSON field of each thing racelab wants (status, attempts, the client's port,
 * words that mean the upstream connection was reset). */
#include "kind_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A number written as a JSON number or as a string ("200", "-"); -1 when neither. */
static long number_of(const json_t *v)
{
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_real(v))
        return (long)json_real_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        long x = strtol(s, &end, 10);
        if (end != s)
            return x;
    }
    return -1;
}

/* "502, 200" (nginx: one status per attempt, ", " between servers, " : " between upstream
 * groups): the number of attempts. */
static int count_items(const char *s)
{
    int n = 0;
    bool in = false;
    for (const char *p = s; *p; p++) {
        bool sep = *p == ',' || *p == ':' || *p == ' ';
        if (!sep && !in)
            n++;
        in = !sep;
    }
    return n;
}

int kind_read_entry(const struct kind *k, const char *line, struct kind_entry *e)
{
    const struct kind_access *a = &k->access;
    memset(e, 0, sizeof(*e));
    if (!a->status)
        return -1;
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    long st = number_of(json_object_get(o, a->status));
    e->status = st > 0 ? (int)st : 0;
    if (a->attempts) {
        long x = number_of(json_object_get(o, a->attempts));
        e->attempts = x > 0 ? (int)x : 0;
    } else if (a->retries) {
        /* HAProxy writes "+1" after a redispatch */
        const json_t *v = json_object_get(o, a->retries);
        long x = json_is_string(v) && json_string_value(v)[0] == '+'
                     ? strtol(json_string_value(v) + 1, NULL, 10)
                     : number_of(v);
        e->attempts = x >= 0 ? (int)x + 1 : 0;
    } else if (a->upstream_status) {
        const json_t *v = json_object_get(o, a->upstream_status);
        e->attempts = json_is_string(v) ? count_items(json_string_value(v)) : 0;
    }
    e->retried = e->attempts > 1;
    if (a->downstream_port) {
        long x = number_of(json_object_get(o, a->downstream_port));
        e->downstream_port = x > 0 ? x : 0;
    }
    if (a->reset_field) {
        const json_t *v = json_object_get(o, a->reset_field);
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        for (size_t i = 0; i < a->nreset_words; i++)
            if (strstr(s, a->reset_words[i]))
                e->upstream_reset = true;
    }
    json_decref(o);
    return 0;
}

/* The lines of a file, one at a time: fn(ctx, line). false when the file cannot be read. */
static bool each_line(const char *path, void (*fn)(void *ctx, const char *line), void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len)
            fn(ctx, line);
    }
    free(line);
    fclose(f);
    return true;
}

struct tally {
    const struct kind *k;
    long requests, retried, resets, error_resets, unread;
    json_t *statuses;
};

static void count_access(void *ctx, const char *line)
{
    struct tally *t = ctx;
    struct kind_entry e;
    if (kind_read_entry(t->k, line, &e) != 0) {
        t->unread++; /* HAProxy's own notices go to the same stdout */
        return;
    }
    t->requests++;
    t->retried += e.retried;
    t->resets += e.upstream_reset;
    char st[16];
    snprintf(st, sizeof(st), "%d", e.status);
    json_t *n = json_object_get(t->statuses, st);
    json_object_set_new(t->statuses, st, json_integer(n ? json_integer_value(n) + 1 : 1));
}

static void count_errors(void *ctx, const char *line)
{
    struct tally *t = ctx;
    for (size_t i = 0; i < t->k->nerror_resets; i++) {
        if (strstr(line, t->k->error_resets[i])) {
            t->error_resets++;
            return;
        }
    }
}

json_t *kind_log_summary(const struct kind *k, const char *dir, const char *name)
{
    json_t *o = json_object();
    struct tally t = {k, 0, 0, 0, 0, 0, json_object()};
    if (!o || !t.statuses) {
        json_decref(o);
        json_decref(t.statuses);
        return NULL;
    }
    char rel[512], path[2048];
    kind_access_log(k, name, rel, sizeof(rel));
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (rel[0] && each_line(path, count_access, &t)) {
        json_object_set_new(o, "access_log", json_string(path));
        json_object_set_new(o, "requests", json_integer(t.requests));
        json_object_set(o, "statuses", t.statuses);
        json_object_set_new(o, "retried", json_integer(t.retried));
        if (k->access.reset_field)
            json_object_set_new(o, "upstream_resets", json_integer(t.resets));
        json_object_set_new(o, "unread_lines", json_integer(t.unread));
    }
    kind_error_log(k, name, rel, sizeof(rel));
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (rel[0] && k->nerror_resets && each_line(path, count_errors, &t)) {
        json_object_set_new(o, "error_log", json_string(path));
        json_object_set_new(o, "error_log_resets", json_integer(t.error_resets));
    }
    json_decref(t.statuses);
    return o;
}
