/* tarz — ustar entries through zlib into a temporary file, renamed when complete (tarz.h). */
#include "tarz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define BLOCK 512

struct tarz {
    gzFile g;
    char path[4096];
    char tmp[4200];
    bool failed;
};

struct tarz *tarz_open(const char *path, char *err, size_t errlen)
{
    struct tarz *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(t->path, sizeof t->path, "%s", path);
    snprintf(t->tmp, sizeof t->tmp, "%s.tmp", path);
    t->g = gzopen(t->tmp, "wb6");
    if (!t->g) {
        snprintf(err, errlen, "%s: %s", t->tmp, strerror(errno ? errno : ENOMEM));
        free(t);
        return NULL;
    }
    return t;
}

static int put(struct tarz *t, const void *data, size_t n, char *err, size_t errlen)
{
    if (n > 0 && gzwrite(t->g, data, (unsigned)n) != (int)n) {
        int e;
        const char *msg = gzerror(t->g, &e);
        snprintf(err, errlen, "%s: %s", t->tmp, e == Z_ERRNO ? strerror(errno) : msg);
        t->failed = true;
        return -1;
    }
    return 0;
}

static void octal(char *field, size_t width, unsigned long long v)
{
    /* width - 1 digits and a NUL, as GNU and BSD tar write them (the callers keep v within
     * width - 1 octal digits) */
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%0*llo", (int)width - 1, v);
    if (n < 0 || (size_t)n != width - 1)
        return;
    memcpy(field, buf, width - 1);
    field[width - 1] = '\0';
}

/* The 512-byte ustar header of an entry. */
static int header(struct tarz *t, const char *name, char type, unsigned mode,
                  unsigned long long size, time_t mtime, char *err, size_t errlen)
{
    unsigned char h[BLOCK];
    memset(h, 0, sizeof h);
    size_t n = strlen(name);
    const char *base = name;
    size_t plen = 0;
    if (n > 100) {
        /* prefix (up to 155) '/' name (up to 100) */
        const char *cut = NULL;
        for (const char *p = name; *p; p++)
            if (*p == '/' && (size_t)(p - name) <= 155 && n - (size_t)(p - name) - 1 <= 100)
                cut = p;
        if (!cut || cut == name) {
            snprintf(err, errlen, "%s: name too long for a ustar archive", name);
            return -1;
        }
        plen = (size_t)(cut - name);
        base = cut + 1;
    }
    if (size > 077777777777ULL) {
        snprintf(err, errlen, "%s: larger than 8 GiB", name);
        return -1;
    }
    memcpy(h, base, strlen(base));
    octal((char *)h + 100, 8, mode);
    octal((char *)h + 108, 8, 0);
    octal((char *)h + 116, 8, 0);
    octal((char *)h + 124, 12, size);
    octal((char *)h + 136, 12, (unsigned long long)(mtime < 0 ? 0 : mtime));
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "root", 4);
    memcpy(h + 297, "root", 4);
    memcpy(h + 345, name, plen);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum); /* six digits, NUL, space */
    h[155] = ' ';
    return put(t, h, BLOCK, err, errlen);
}

static int pad(struct tarz *t, unsigned long long size, char *err, size_t errlen)
{
    static const char zero[BLOCK];
    size_t r = (size_t)(size % BLOCK);
    return r ? put(t, zero, BLOCK - r, err, errlen) : 0;
}

int tarz_add_mem(struct tarz *t, const char *name, const void *data, size_t n, time_t mtime,
                 char *err, size_t errlen)
{
    if (header(t, name, '0', 0644, n, mtime, err, errlen) < 0 || put(t, data, n, err, errlen) < 0)
        return -1;
    return pad(t, n, err, errlen);
}

int tarz_add_dir(struct tarz *t, const char *name, time_t mtime, char *err, size_t errlen)
{
    char d[4200];
    size_t n = strlen(name);
    snprintf(d, sizeof d, "%s%s", name, n && name[n - 1] == '/' ? "" : "/");
    return header(t, d, '5', 0755, 0, mtime, err, errlen);
}

int tarz_add_file(struct tarz *t, const char *name, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    unsigned long long size = (unsigned long long)st.st_size, done = 0;
    if (header(t, name, '0', st.st_mode & 0777, size, st.st_mtime, err, errlen) < 0) {
        fclose(f);
        return -1;
    }
    char buf[65536];
    size_t k;
    while (done < size && (k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (k > size - done)
            k = (size_t)(size - done); /* the file grew: the header's size wins */
        if (put(t, buf, k, err, errlen) < 0) {
            fclose(f);
            return -1;
        }
        done += k;
    }
    fclose(f);
    if (done < size) {
        snprintf(err, errlen, "%s: shrank while it was archived", path);
        t->failed = true;
        return -1;
    }
    return pad(t, size, err, errlen);
}

int tarz_close(struct tarz *t, bool commit, char *err, size_t errlen)
{
    static const char zero[2 * BLOCK];
    int rc = 0;
    if (commit && !t->failed && put(t, zero, sizeof zero, err, errlen) < 0)
        rc = -1;
    if (gzclose_w(t->g) != Z_OK && rc == 0 && commit) {
        snprintf(err, errlen, "%s: %s", t->tmp, strerror(errno ? errno : EIO));
        rc = -1;
    }
    if (!commit || t->failed || rc != 0) {
        unlink(t->tmp);
        free(t);
        return commit ? -1 : 0;
    }
    if (rename(t->tmp, t->path) != 0) {
        snprintf(err, errlen, "%s: %s", t->path, strerror(errno));
        unlink(t->tmp);
        rc = -1;
    }
    free(t);
    return rc;
}
