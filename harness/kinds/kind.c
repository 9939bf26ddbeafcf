/* kind — an adapter loaded (kind_load): its top-level keys read in order (the sections by
 * kind_read.c, the settings by kind_rules.c), every template's placeholders checked and every
 * slot placed somewhere; kind_free; and what a loaded kind answers: its name, description,
 * path and stop, its slots and flags by name, the binary found on PATH. Errors read
 * "FILE:LINE: key: problem" (yml_read.h). */
#include "kind_internal.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_words(struct kind_loader *L, const struct yml_node *root, const char *key,
                      bool required, const char ***out, size_t *nout)
{
    const struct yml_node *n = yml_get(root, key);
    if (!n) {
        if (required)
            return yml_bad(&L->r, root, key, "missing required key");
        return 0;
    }
    if (n->kind != YML_SEQ)
        return yml_bad(&L->r, n, key, "expected a list of words (the argv after the binary)");
    if (yml_want_texts(&L->r, n, key, out, nout) != 0)
        return -1;
    for (size_t i = 0; i < *nout; i++)
        if (kind_check_placeholders(L, n->items[i], key, (*out)[i], NULL, NULL) != 0)
            return -1;
    return 0;
}

static const char *const top_keys[] = {
    "kind", "about",      "binary", "version", "files",  "start",    "check",       "ready",
    "stop", "access_log", "logs",   "slots",   "native", "settings", "unsupported", NULL};
static const char *const top_required[] = {"kind",  "about", "binary", "files",    "start",
                                           "ready", "stop",  "slots",  "settings", NULL};

static int read_adapter(struct kind_loader *L, const struct yml_node *root)
{
    struct kind *k = L->k;
    const struct yml_node *n;
    if (!root || root->kind != YML_MAP)
        return yml_bad(&L->r, root, "(file)",
                       "an adapter is a map of keys (kind:, binary:, ...; see "
                       "docs/proxies.md)");
    if (yml_known_keys(&L->r, root, "", top_keys) != 0)
        return -1;
    for (size_t i = 0; top_required[i]; i++)
        if (!yml_get(root, top_required[i]))
            return yml_bad(&L->r, root, top_required[i], "missing required key");
    if (yml_want_text(&L->r, yml_get(root, "kind"), "kind", &k->name) != 0 ||
        yml_want_text(&L->r, yml_get(root, "about"), "about", &k->about) != 0)
        return -1;
    char dircopy[PATH_MAX];
    snprintf(dircopy, sizeof(dircopy), "%s", k->dir);
    if (strcmp(k->name, basename(dircopy)) != 0)
        return yml_bad(
            &L->r, yml_get(root, "kind"), "kind",
            "'%s' is not the name of the adapter's folder ('%s'): --proxy finds a kind by "
            "its folder",
            k->name, basename(dircopy));
    n = yml_get(root, "binary");
    if (yml_want_texts(&L->r, n, "binary", &k->binary, &k->nbinary) != 0)
        return -1;
    if (k->nbinary == 0)
        return yml_bad(&L->r, n, "binary", "name at least one program to look for");
    if (kind_read_slots(L, yml_get(root, "slots")) != 0 ||
        kind_read_files(L, yml_get(root, "files")) != 0)
        return -1;
    if (read_words(L, root, "start", true, &k->start, &k->nstart) != 0 ||
        read_words(L, root, "check", false, &k->check, &k->ncheck) != 0 ||
        read_words(L, root, "version", false, &k->version, &k->nversion) != 0)
        return -1;
    const char *ready;
    n = yml_get(root, "ready");
    if (yml_want_text(&L->r, n, "ready", &ready) != 0)
        return -1;
    if (strcmp(ready, "listener") != 0)
        return yml_bad(&L->r, n, "ready",
                       "expected listener (ready once its listening socket accepts), got '%s'",
                       ready);
    if (kind_read_stop(L, yml_get(root, "stop")) != 0)
        return -1;
    if ((n = yml_get(root, "logs")) && kind_read_logs(L, n) != 0)
        return -1;
    if ((n = yml_get(root, "access_log")) && kind_read_access(L, n) != 0)
        return -1;
    k->native_slot = -1;
    if ((n = yml_get(root, "native"))) {
        const char *s;
        if (yml_want_text(&L->r, n, "native", &s) != 0)
            return -1;
        k->native_slot = kind_slot_index(k, s);
        if (k->native_slot < 0)
            return yml_bad(&L->r, n, "native", "no slot named '%s'", s);
    }

    bool *placed = calloc(k->nslots + 1, sizeof(*placed));
    if (!placed)
        return yml_oom(&L->r);
    int rc = -1;
    for (size_t i = 0; i < k->nfiles; i++)
        if (kind_check_template(L, &k->files[i], placed) != 0)
            goto out;
    for (size_t i = 0; i < k->nfiles; i++)
        if (kind_check_placeholders(L, yml_get(root, "files"), "files", k->files[i].to, NULL,
                                    NULL) != 0)
            goto out;
    if (kind_read_settings(L, yml_get(root, "settings"), placed) != 0)
        goto out;
    if ((n = yml_get(root, "unsupported")) && kind_read_unsupported(L, n) != 0)
        goto out;
    if (kind_check_coverage(L, root) != 0)
        goto out;
    for (size_t i = 0; i < k->nslots; i++) {
        if (placed[i])
            continue;
        yml_bad(&L->r, yml_get(root, "slots"), "slots",
                "slot %s is placed in no template and no rule text ({%s}): its settings would be "
                "lost",
                k->slots[i].name, k->slots[i].name);
        goto out;
    }
    rc = 0;
out:
    free(placed);
    return rc;
}

struct kind *kind_load(const char *dir, char *err, size_t errlen)
{
    struct kind *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    k->dir = strdup(dir);
    if (!k->dir || asprintf(&k->path, "%s/adapter.yaml", dir) < 0) {
        k->path = NULL;
        kind_free(k);
        snprintf(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    struct kind_loader L = {.r = {.path = k->path, .err = err, .errlen = errlen}, .k = k};
    if (yml_load(k->path, &k->doc, err, errlen) != 0 || read_adapter(&L, k->doc) != 0) {
        kind_free(k);
        return NULL;
    }
    return k;
}

void kind_free(struct kind *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nfiles; i++) {
        free(k->files[i].template_path);
        free(k->files[i].text);
    }
    free(k->files);
    for (size_t i = 0; i < k->nflags; i++) {
        for (size_t j = 0; j < k->flags[i].nrules; j++) {
            free(k->flags[i].rules[j].with);
            free(k->flags[i].rules[j].without);
            free(k->flags[i].rules[j].values);
        }
        free(k->flags[i].rules);
    }
    free(k->flags);
    free(k->slots);
    free(k->binary);
    free(k->version);
    free(k->start);
    free(k->check);
    free(k->error_resets);
    free(k->access.reset_words);
    yml_free(k->doc);
    free(k->dir);
    free(k->path);
    free(k);
}

const char *kind_name(const struct kind *k)
{
    return k->name;
}

const char *kind_about(const struct kind *k)
{
    return k->about;
}

const char *kind_path(const struct kind *k)
{
    return k->path;
}

int kind_stop_signal(const struct kind *k)
{
    return k->stop_signal;
}

const char *kind_stop_signal_name(const struct kind *k)
{
    return k->stop_signal_name;
}

long kind_settle_ms(const struct kind *k)
{
    return k->settle_ms;
}

size_t kind_nfiles(const struct kind *k)
{
    return k->nfiles;
}

int kind_slot_index(const struct kind *k, const char *name)
{
    for (size_t i = 0; i < k->nslots; i++)
        if (strcmp(k->slots[i].name, name) == 0)
            return (int)i;
    return -1;
}

const struct kind_flag *kind_flag_find(const struct kind *k, const char *name)
{
    for (size_t i = 0; i < k->nflags; i++)
        if (strcmp(k->flags[i].name, name) == 0)
            return &k->flags[i];
    return NULL;
}

static bool executable(const char *path)
{
    return access(path, X_OK) == 0;
}

int kind_find_binary(const struct kind *k, char *out, size_t outlen, char *err, size_t errlen)
{
    const char *path = getenv("PATH");
    for (size_t i = 0; i < k->nbinary; i++) {
        const char *b = k->binary[i];
        if (strchr(b, '/')) {
            if (executable(b)) {
                snprintf(out, outlen, "%s", b);
                return 0;
            }
            continue;
        }
        for (const char *s = path ? path : "/bin:/usr/bin"; *s;) {
            const char *e = strchr(s, ':');
            size_t l = e ? (size_t)(e - s) : strlen(s);
            char buf[PATH_MAX];
            snprintf(buf, sizeof(buf), "%.*s%s%s", (int)l, s, l ? "/" : "", b);
            if (executable(buf)) {
                snprintf(out, outlen, "%s", buf);
                return 0;
            }
            s += l + (e ? 1 : 0);
        }
    }
    size_t o = (size_t)snprintf(err, errlen, "%s not installed (looked for ", k->name);
    for (size_t i = 0; i < k->nbinary && o < errlen; i++)
        o += (size_t)snprintf(err + o, errlen - o, "%s%s%s", i ? ", " : "", k->binary[i],
                              strchr(k->binary[i], '/') ? "" : " in PATH");
    if (o < errlen)
        snprintf(err + o, errlen - o, ")");
    return -1;
}
