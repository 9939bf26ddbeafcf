/* kind_read — the sections of an adapter besides its settings, each read and checked: files
 * (the templates read from beside the adapter), stop, logs, access_log, slots. */
#include "kind_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + len, 1, 4096, f);
        len += r;
        if (r < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        snprintf(err, errlen, "%s: NUL byte in a template", path);
        return NULL;
    }
    return buf;
}

int kind_read_files(struct kind_loader *L, const struct yml_node *n)
{
    struct kind *k = L->k;
    static const char *const keys[] = {"template", "to", NULL};
    if (n->kind != YML_SEQ || n->n == 0)
        return yml_bad(&L->r, n, "files", "expected a list of {template: FILE, to: NAME}");
    k->files = calloc(n->n, sizeof(*k->files));
    if (!k->files)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *f = n->items[i];
        char key[64];
        snprintf(key, sizeof(key), "files[%zu]", i);
        if (yml_want_map(&L->r, f, key) != 0 || yml_known_keys(&L->r, f, key, keys) != 0)
            return -1;
        const struct yml_node *t = yml_get(f, "template"), *to = yml_get(f, "to");
        if (!t || !to)
            return yml_bad(&L->r, f, key,
                           "give template (a file beside the adapter) and to (its name "
                           "in the cell's folder)");
        const char *tp;
        struct kind_file *kf = &k->files[k->nfiles++];
        if (yml_want_text(&L->r, t, key, &tp) != 0 || yml_want_text(&L->r, to, key, &kf->to) != 0)
            return -1;
        if (strchr(tp, '/') || strchr(kf->to, '/'))
            return yml_bad(&L->r, strchr(tp, '/') ? t : to, key,
                           "a plain file name: templates sit beside the adapter, configs in the "
                           "cell's folder");
        if (asprintf(&kf->template_path, "%s/%s", k->dir, tp) < 0) {
            kf->template_path = NULL;
            return yml_oom(&L->r);
        }
        char e[600];
        kf->text = slurp(kf->template_path, e, sizeof(e));
        if (!kf->text)
            return yml_bad(&L->r, t, key, "%s", e);
    }
    return 0;
}

int kind_read_stop(struct kind_loader *L, const struct yml_node *n)
{
    static const char *const keys[] = {"signal", "settle", NULL};
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"TERM", SIGTERM}, {"QUIT", SIGQUIT}, {"INT", SIGINT},    {"HUP", SIGHUP},
                {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}};
    if (yml_want_map(&L->r, n, "stop") != 0 || yml_known_keys(&L->r, n, "stop", keys) != 0)
        return -1;
    const struct yml_node *s = yml_get(n, "signal"), *t = yml_get(n, "settle");
    if (!s || !t)
        return yml_bad(&L->r, n, "stop",
                       "give signal (TERM, QUIT, USR1, WINCH...) and settle (ms after the "
                       "downstream's end before the signal)");
    const char *name, *ms;
    if (yml_want_text(&L->r, s, "stop.signal", &name) != 0 ||
        yml_want_text(&L->r, t, "stop.settle", &ms) != 0)
        return -1;
    const char *bare = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
    L->k->stop_signal = 0;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (strcmp(bare, sigs[i].name) == 0)
            L->k->stop_signal = sigs[i].sig;
    if (!L->k->stop_signal)
        return yml_bad(&L->r, s, "stop.signal",
                       "'%s' is not one of TERM, QUIT, INT, HUP, USR1, USR2, "
                       "WINCH",
                       name);
    L->k->stop_signal_name = bare;
    if (opt_parse_ms(ms, &L->k->settle_ms) != 0 || L->k->settle_ms < 0 || L->k->settle_ms > 60000)
        return yml_bad(&L->r, t, "stop.settle", "expected milliseconds in [0, 60000], got '%s'",
                       ms);
    return 0;
}

int kind_read_logs(struct kind_loader *L, const struct yml_node *n)
{
    static const char *const keys[] = {"error", "error_resets", NULL};
    if (yml_want_map(&L->r, n, "logs") != 0 || yml_known_keys(&L->r, n, "logs", keys) != 0)
        return -1;
    const struct yml_node *e = yml_get(n, "error"), *r = yml_get(n, "error_resets");
    if (e && yml_want_text(&L->r, e, "logs.error", &L->k->error_log) != 0)
        return -1;
    if (r && yml_want_texts(&L->r, r, "logs.error_resets", &L->k->error_resets,
                            &L->k->nerror_resets) != 0)
        return -1;
    return 0;
}

int kind_read_access(struct kind_loader *L, const struct yml_node *n)
{
    static const char *const keys[] = {"file", "format", "fields", "reset", NULL};
    static const char *const fkeys[] = {"status",          "attempts",        "retries",
                                        "upstream_status", "downstream_port", NULL};
    static const char *const rkeys[] = {"field", "words", NULL};
    struct kind_access *a = &L->k->access;
    if (yml_want_map(&L->r, n, "access_log") != 0 ||
        yml_known_keys(&L->r, n, "access_log", keys) != 0)
        return -1;
    const struct yml_node *f = yml_get(n, "file"), *fmt = yml_get(n, "format"),
                          *fields = yml_get(n, "fields"), *r = yml_get(n, "reset");
    const char *format;
    if (!f || !fmt || !fields)
        return yml_bad(&L->r, n, "access_log", "give file, format (json) and fields");
    if (yml_want_text(&L->r, f, "access_log.file", &a->file) != 0 ||
        yml_want_text(&L->r, fmt, "access_log.format", &format) != 0)
        return -1;
    if (strcmp(format, "json") != 0)
        return yml_bad(&L->r, fmt, "access_log.format",
                       "only json is read (one JSON object per line, written by the template's log "
                       "format), got '%s'",
                       format);
    if (yml_want_map(&L->r, fields, "access_log.fields") != 0 ||
        yml_known_keys(&L->r, fields, "access_log.fields", fkeys) != 0)
        return -1;
    const char **dst[] = {&a->status, &a->attempts, &a->retries, &a->upstream_status,
                          &a->downstream_port};
    for (size_t i = 0; fkeys[i]; i++) {
        char key[80];
        const struct yml_node *v =
            yml_get_at(fields, "access_log.fields", fkeys[i], key, sizeof(key));
        if (v && yml_want_text(&L->r, v, key, dst[i]) != 0)
            return -1;
    }
    if (!a->status)
        return yml_bad(&L->r, fields, "access_log.fields", "missing status (the client's status)");
    if (r) {
        if (yml_want_map(&L->r, r, "access_log.reset") != 0 ||
            yml_known_keys(&L->r, r, "access_log.reset", rkeys) != 0)
            return -1;
        const struct yml_node *rf = yml_get(r, "field"), *rw = yml_get(r, "words");
        if (!rf || !rw)
            return yml_bad(&L->r, r, "access_log.reset", "give field and words");
        if (yml_want_text(&L->r, rf, "access_log.reset.field", &a->reset_field) != 0 ||
            yml_want_texts(&L->r, rw, "access_log.reset.words", &a->reset_words,
                           &a->nreset_words) != 0)
            return -1;
    }
    return 0;
}

int kind_read_slots(struct kind_loader *L, const struct yml_node *n)
{
    static const char *const keys[] = {"join", NULL};
    struct kind *k = L->k;
    if (!(k->slots = yml_want_map_array(&L->r, n, "slots", sizeof(*k->slots))))
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *key = n->keys[i], *v = n->items[i];
        char where[200];
        snprintf(where, sizeof(where), "slots.%s", key->str);
        char name[64];
        char probe[80];
        snprintf(probe, sizeof(probe), "{%s}", key->str);
        if (kind_placeholder(probe, name, sizeof(name)) != strlen(probe) ||
            kind_is_value_placeholder(name) || yml_listed(name, kind_var_names))
            return yml_bad(&L->r, key, where,
                           "a slot name is lower-case letters, digits and '_', and not a "
                           "placeholder's name");
        struct kind_slot *s = &k->slots[k->nslots++];
        s->name = key->str;
        s->join = " ";
        if (yml_is_null(v))
            continue;
        if (yml_want_map(&L->r, v, where) != 0 || yml_known_keys(&L->r, v, where, keys) != 0)
            return -1;
        const struct yml_node *j = yml_get(v, "join");
        if (j) {
            if (j->kind != YML_SCALAR)
                return yml_bad(&L->r, j, where, "join: expected a text");
            s->join = j->str;
        }
    }
    return 0;
}
