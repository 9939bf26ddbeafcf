#include "jl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void put(struct jl *j, const char *s, size_t n)
{
    /* keep room for the closing "}\n" */
    if (j->overflow || j->len + n + 2 >= JL_MAX) {
        j->overflow = true;
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

size_t jl_escape(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    if (cap < 3)
        return 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        size_t tl;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            tl = 2;
        } else if (c == '\n') {
            memcpy(tmp, "\\n", 2);
            tl = 2;
        } else if (c == '\r') {
            memcpy(tmp, "\\r", 2);
            tl = 2;
        } else if (c == '\t') {
            memcpy(tmp, "\\t", 2);
            tl = 2;
        } else if (c < 0x20 || c == 0x7f) {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
        } else {
            tmp[0] = (char)c;
            tl = 1;
        }
        if (o + tl + 2 > cap)
            break;
        memcpy(out + o, tmp, tl);
        o += tl;
    }
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

static void key(struct jl *j, const char *k)
{
    char tmp[256];
    if (!j->first)
        put(j, ",", 1);
    j->first = false;
    size_t n = jl_escape(tmp, sizeof(tmp), k, strlen(k));
    put(j, tmp, n);
    put(j, ":", 1);
}

void jl_begin(struct jl *j)
{
    j->len = 0;
    j->first = true;
    j->overflow = false;
    put(j, "{", 1);
}

void jl_strn(struct jl *j, const char *k, const char *v, size_t n)
{
    char tmp[JL_MAX];
    key(j, k);
    size_t l = jl_escape(tmp, sizeof(tmp), v ? v : "", v ? n : 0);
    put(j, tmp, l);
}

void jl_str(struct jl *j, const char *k, const char *v)
{
    jl_strn(j, k, v, v ? strlen(v) : 0);
}

void jl_int(struct jl *j, const char *k, long long v)
{
    char tmp[32];
    key(j, k);
    put(j, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%lld", v));
}

void jl_uint(struct jl *j, const char *k, unsigned long long v)
{
    char tmp[32];
    key(j, k);
    put(j, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%llu", v));
}

void jl_bool(struct jl *j, const char *k, bool v)
{
    key(j, k);
    put(j, v ? "true" : "false", v ? 4 : 5);
}

void jl_double(struct jl *j, const char *k, double v)
{
    char tmp[48];
    key(j, k);
    put(j, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%.3f", v));
}

void jl_raw(struct jl *j, const char *k, const char *v)
{
    key(j, k);
    put(j, v, strlen(v));
}

const char *jl_end(struct jl *j)
{
    if (j->overflow) {
        /* never emit half an object: replace it with a marker line that still parses */
        static const char trunc[] = "{\"truncated\":true"; /* jl_end adds the brace */
        memcpy(j->buf, trunc, sizeof(trunc) - 1);
        j->len = sizeof(trunc) - 1;
        j->overflow = false;
    }
    j->buf[j->len++] = '}';
    j->buf[j->len++] = '\n';
    j->buf[j->len] = '\0';
    return j->buf;
}

int jl_write(struct jl *j, int fd)
{
    jl_end(j);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < j->len) {
        ssize_t n = write(fd, j->buf + off, j->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}
