/* kind_render — a plan written out: the templates with their placeholders and slots filled in
 * (a slot alone on its line becomes a line per entry at its indentation), into the cell's
 * folder; the start and check command lines; the names of the proxy's logs. */
#include "kind_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

struct render {
    const struct kind *k;
    const struct kind_plan *plan;
    const struct kind_vars *v;
    bool *placed;
    char *err;
    size_t errlen;
    bool failed;
};

#define RENDER_MAX_DEPTH 8

/* The slot alone on its line (only blanks around it): its index, with the blanks before it
 * in *indent_len; -1 otherwise. */
static int slot_line(const struct kind *k, const char *line, size_t len, size_t *indent_len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    char name[64];
    size_t pl = kind_placeholder(line + i, name, sizeof(name));
    if (!pl || i + pl > len)
        return -1;
    for (size_t j = i + pl; j < len; j++)
        if (line[j] != ' ' && line[j] != '\t' && line[j] != '\r')
            return -1;
    *indent_len = i;
    return kind_slot_index(k, name);
}

static void render_text(struct render *R, const char *text, const char *indent, int depth,
                        struct sbuf *out);

/* One line (without its newline) that is not a lone slot: variables and slots inline. */
static void render_inline(struct render *R, const char *line, size_t len, int depth,
                          struct sbuf *out)
{
    for (size_t i = 0; i < len;) {
        char name[64];
        if (i + 1 < len && line[i] == '{' && line[i + 1] == '{') { /* {{ is a literal { */
            kind_sb_add(out, "{");
            i += 2;
            continue;
        }
        size_t pl = kind_placeholder(line + i, name, sizeof(name));
        if (pl && i + pl <= len) {
            int slot = kind_slot_index(R->k, name);
            if (slot >= 0) {
                const struct plan_slot *ps = R->plan ? &R->plan->slots[slot] : NULL;
                R->placed[slot] = true;
                for (size_t j = 0; ps && j < ps->n; j++) {
                    if (j)
                        kind_sb_add(out, R->k->slots[slot].join);
                    render_text(R, ps->v[j], "", depth + 1, out);
                }
                i += pl;
                continue;
            }
            if (kind_var_value(R->k, R->v, name, out)) {
                i += pl;
                continue;
            }
        }
        kind_sb_addn(out, line + i, 1);
        i++;
    }
}

/* text line by line, each line after indent; a slot alone on its line becomes one line per
 * entry at that line's indentation (nothing at all when empty). */
static void render_text(struct render *R, const char *text, const char *indent, int depth,
                        struct sbuf *out)
{
    if (depth > RENDER_MAX_DEPTH) {
        if (!R->failed)
            snprintf(R->err, R->errlen,
                     "%s: slots nest deeper than %d levels (a slot placed inside its own text?)",
                     R->k->path, RENDER_MAX_DEPTH);
        R->failed = true;
        return;
    }
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        size_t il = 0;
        int slot = slot_line(R->k, p, len, &il);
        if (slot >= 0) {
            R->placed[slot] = true;
            char sub[512];
            snprintf(sub, sizeof(sub), "%s%.*s", indent, (int)il, p);
            const struct plan_slot *ps = R->plan ? &R->plan->slots[slot] : NULL;
            for (size_t j = 0; ps && j < ps->n; j++) {
                render_text(R, ps->v[j], sub, depth + 1, out);
                if (out->len && out->s[out->len - 1] != '\n')
                    kind_sb_add(out, "\n");
            }
        } else {
            if (len)
                kind_sb_add(out, indent);
            render_inline(R, p, len, depth, out);
            if (nl)
                kind_sb_add(out, "\n");
        }
        p += len + (nl ? 1 : 0);
    }
}

static char *render_file(const struct kind *k, size_t i, const struct kind_plan *plan,
                         const struct kind_vars *v, bool *placed, char *err, size_t errlen)
{
    struct render R = {k, plan, v, placed, err, errlen, false};
    struct sbuf out = {0};
    render_text(&R, k->files[i].text, "", 0, &out);
    if (R.failed || out.oom) {
        if (out.oom)
            snprintf(err, errlen, "out of memory");
        free(out.s);
        return NULL;
    }
    if (!out.s)
        out.s = strdup("");
    return out.s;
}

char *kind_render_text(const struct kind *k, size_t i, const struct kind_plan *plan,
                       const struct kind_vars *v, char *err, size_t errlen)
{
    if (i >= k->nfiles) {
        snprintf(err, errlen, "%s has %zu file(s)", k->path, k->nfiles);
        return NULL;
    }
    bool *placed = calloc(k->nslots + 1, sizeof(*placed));
    if (!placed) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char *text = render_file(k, i, plan, v, placed, err, errlen);
    free(placed);
    return text;
}

int kind_render(const struct kind *k, const struct kind_plan *plan, const struct kind_vars *v,
                char *err, size_t errlen)
{
    bool *placed = calloc(k->nslots + 1, sizeof(*placed));
    if (!placed) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    for (size_t i = 0; i < k->nfiles; i++) {
        char *text = render_file(k, i, plan, v, placed, err, errlen);
        if (!text)
            goto out;
        struct sbuf path = {0};
        kind_sb_add(&path, v->dir ? v->dir : ".");
        kind_sb_add(&path, "/");
        kind_fill_vars(k, v, k->files[i].to, &path);
        FILE *f = path.oom ? NULL : fopen(path.s, "w");
        bool ok = f && fputs(text, f) >= 0;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok)
            snprintf(err, errlen, "%s: %s", path.s ? path.s : "?", strerror(errno));
        free(path.s);
        free(text);
        if (!ok)
            goto out;
    }
    /* A slot filled by a setting but placed nowhere this time (a slot inside a rule text
     * that did not apply) would drop the setting silently. */
    for (size_t i = 0; plan && i < k->nslots; i++) {
        if (plan->slots[i].n && !placed[i]) {
            snprintf(err, errlen,
                     "%s: slot %s holds '%s', and no template or applied rule places it", k->path,
                     k->slots[i].name, plan->slots[i].v[0]);
            goto out;
        }
    }
    rc = 0;
out:
    free(placed);
    return rc;
}

char **kind_argv(const struct kind *k, enum kind_cmd which, const char *binary,
                 const struct kind_vars *v, char *err, size_t errlen)
{
    const char *const *words = which == KIND_CHECK ? k->check : k->start;
    size_t n = which == KIND_CHECK ? k->ncheck : k->nstart;
    if (which == KIND_CHECK && !n) {
        snprintf(err, errlen, "%s has no check: command", k->path);
        return NULL;
    }
    struct run_argv a = {0};
    run_argv_add(&a, binary);
    for (size_t i = 0; i < n; i++) {
        struct sbuf w = {0};
        kind_fill_vars(k, v, words[i], &w);
        run_argv_add(&a, w.s ? w.s : "");
        if (w.oom)
            a.oom = true;
        free(w.s);
    }
    if (a.oom) {
        snprintf(err, errlen, "out of memory");
        run_argv_free(a.v);
        return NULL;
    }
    return a.v;
}

static void log_name(const struct kind *k, const char *tmpl, const char *name, char *out,
                     size_t outlen)
{
    out[0] = '\0';
    if (!tmpl)
        return;
    struct kind_vars v = {.name = name};
    struct sbuf b = {0};
    kind_fill_vars(k, &v, tmpl, &b);
    snprintf(out, outlen, "%s", b.s ? b.s : "");
    free(b.s);
}

void kind_error_log(const struct kind *k, const char *name, char *out, size_t outlen)
{
    log_name(k, k->error_log, name, out, outlen);
}

void kind_access_log(const struct kind *k, const char *name, char *out, size_t outlen)
{
    log_name(k, k->access.file, name, out, outlen);
}
