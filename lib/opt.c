#include "opt.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int opt_parse_long(const char *s, long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_scaled(const char *s, long *out, const char *const *suffix, const long *mult)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (!*end) {
        *out = v;
        return 0;
    }
    for (int i = 0; suffix[i]; i++) {
        if (strcmp(end, suffix[i]) == 0) {
            if (mult[i] && v > LONG_MAX / mult[i])
                return -1;
            *out = v * mult[i];
            return 0;
        }
    }
    return -1;
}

int opt_parse_ms(const char *s, long *out)
{
    static const char *const sfx[] = {"ms", "s", NULL};
    static const long mult[] = {1, 1000};
    return parse_scaled(s, out, sfx, mult);
}

int opt_parse_size(const char *s, long *out)
{
    static const char *const sfx[] = {"k", "K", "m", "M", "g", "G", NULL};
    static const long mult[] = {1L << 10, 1L << 10, 1L << 20, 1L << 20, 1L << 30, 1L << 30};
    return parse_scaled(s, out, sfx, mult);
}

const struct opt_spec *opt_find(const struct opt_spec *specs, const char *name)
{
    for (const struct opt_spec *s = specs; s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

size_t opt_count(const struct opt_spec *specs)
{
    size_t n = 0;
    while (specs[n].name)
        n++;
    return n;
}

static void range_text(const struct opt_spec *s, char *buf, size_t n)
{
    if (s->min == 0 && s->max == 0)
        snprintf(buf, n, "%s", "");
    else if (s->max == 0 || s->max == LONG_MAX)
        snprintf(buf, n, " >= %ld", s->min);
    else
        snprintf(buf, n, " in [%ld, %ld]", s->min, s->max);
}

static int set_value(const struct opt_spec *s, void *cfg, const char *val, char *err,
                     size_t errlen)
{
    char *base = (char *)cfg + s->off;
    char range[64];
    long v = 0;
    int rc = 0;
    const char *what = NULL;

    switch (s->type) {
    case OPT_FLAG:
        *(bool *)base = s->flag_value;
        return OPT_OK;
    case OPT_INT:
        rc = opt_parse_long(val, &v);
        what = "a whole number";
        break;
    case OPT_MS:
        rc = opt_parse_ms(val, &v);
        what = "milliseconds (e.g. 100, 250ms, 2s)";
        break;
    case OPT_SIZE:
        rc = opt_parse_size(val, &v);
        what = "a size in bytes (e.g. 65536, 64k, 8m)";
        break;
    case OPT_STR:
        if (!val || !*val) {
            snprintf(err, errlen, "--%s: expected a value", s->name);
            return OPT_BAD;
        }
        *(const char **)base = val;
        return OPT_OK;
    case OPT_ENUM:
        for (int i = 0; s->choices[i]; i++) {
            if (strcmp(s->choices[i], val) == 0) {
                *(int *)base = i;
                return OPT_OK;
            }
        }
        {
            char list[256] = "";
            for (int i = 0; s->choices[i]; i++) {
                if (i)
                    strncat(list, "|", sizeof(list) - strlen(list) - 1);
                strncat(list, s->choices[i], sizeof(list) - strlen(list) - 1);
            }
            snprintf(err, errlen, "--%s: expected one of %s, got '%s'", s->name, list, val);
        }
        return OPT_BAD;
    case OPT_CUSTOM: {
        char why[200] = "invalid value";
        if (s->parse(cfg, val, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "--%s: %s", s->name, why);
            return OPT_BAD;
        }
        return OPT_OK;
    }
    }
    if (rc == 0 && (s->min || s->max) && (v < s->min || (s->max && v > s->max)))
        rc = -1;
    if (rc != 0) {
        range_text(s, range, sizeof(range));
        snprintf(err, errlen, "--%s: expected %s%s, got '%s'", s->name, what, range, val);
        return OPT_BAD;
    }
    *(long *)base = v;
    return OPT_OK;
}

int opt_set(const struct opt_spec *specs, void *cfg, const char *name, const char *value,
            bool *seen, char *err, size_t errlen)
{
    const struct opt_spec *s = opt_find(specs, name);
    if (!s) {
        snprintf(err, errlen, "unknown flag --%s", name);
        return OPT_BAD;
    }
    if (s->type == OPT_FLAG && value) {
        snprintf(err, errlen, "--%s takes no value", name);
        return OPT_BAD;
    }
    if (s->type != OPT_FLAG && !value) {
        snprintf(err, errlen, "--%s needs a value (%s)", name, s->metavar ? s->metavar : "VALUE");
        return OPT_BAD;
    }
    int rc = set_value(s, cfg, value, err, errlen);
    if (rc == OPT_OK && seen)
        seen[s - specs] = true;
    return rc;
}

int opt_parse(const struct opt_spec *specs, void *cfg, int argc, char **argv, int first,
              char **pos, int *npos, int npos_cap, bool *seen, char *err, size_t errlen)
{
    int np = 0;
    for (int i = first; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return OPT_HELP;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (a[0] == '-' && a[1] != '\0' && strcmp(a, "--") != 0) {
                snprintf(err, errlen, "unknown flag %s (flags are --long-names; see --help)", a);
                return OPT_BAD;
            }
            if (!pos || np >= npos_cap) {
                snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
                return OPT_BAD;
            }
            pos[np++] = a;
            continue;
        }
        char name[128];
        const char *val = NULL;
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof(name)) {
            snprintf(err, errlen, "unknown flag %.40s...", a);
            return OPT_BAD;
        }
        memcpy(name, a + 2, nl);
        name[nl] = '\0';
        const struct opt_spec *s = opt_find(specs, name);
        if (!s) {
            snprintf(err, errlen, "unknown flag --%s (see --help)", name);
            return OPT_BAD;
        }
        if (eq) {
            val = eq + 1;
        } else if (s->type != OPT_FLAG) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--%s needs a value (%s)", name,
                         s->metavar ? s->metavar : "VALUE");
                return OPT_BAD;
            }
            val = argv[++i];
        }
        if (opt_set(specs, cfg, name, val, seen, err, errlen) != OPT_OK)
            return OPT_BAD;
    }
    if (npos)
        *npos = np;
    return OPT_OK;
}

static void wrap(FILE *out, const char *text, int indent, int width)
{
    int col = indent;
    const char *p = text;
    while (*p) {
        const char *w = p;
        while (*w && *w != ' ' && *w != '\n')
            w++;
        int wl = (int)(w - p);
        if (col > indent && col + 1 + wl > width) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, (size_t)wl, out);
        col += wl;
        p = w;
        if (*p == '\n') {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
            p++;
        }
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

void opt_usage(FILE *out, const char *prog, const char *synopsis, const char *about,
               const struct opt_spec *specs)
{
    fprintf(out, "usage: %s %s\n", prog, synopsis);
    if (about) {
        fputc('\n', out);
        wrap(out, about, 0, 96);
    }
    fprintf(out, "\nflags:\n");
    for (const struct opt_spec *s = specs; s->name; s++) {
        char head[96];
        if (s->type == OPT_FLAG)
            snprintf(head, sizeof(head), "  --%s", s->name);
        else
            snprintf(head, sizeof(head), "  --%s %s", s->name, s->metavar ? s->metavar : "VALUE");
        fputs(head, out);
        int col = (int)strlen(head);
        if (col >= 32) {
            fprintf(out, "\n%32s", "");
        } else {
            fprintf(out, "%*s", 32 - col, "");
        }
        wrap(out, s->help ? s->help : "", 32, 100);
    }
    fprintf(out, "  -h, --help                    this text\n");
}
