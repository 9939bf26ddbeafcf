/* gzf — gzip'd files: compressed to a temporary name then renamed, read through a stdio
 * stream over zlib (fopencookie) so that libpcap and getline read them as plain files. */
#include "gzf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define GZF_CHUNK (64 * 1024)

static ssize_t cookie_read(void *c, char *buf, size_t n)
{
    if (n > (size_t)INT32_MAX)
        n = (size_t)INT32_MAX;
    int r = gzread((gzFile)c, buf, (unsigned)n);
    if (r < 0) {
        errno = EIO;
        return -1;
    }
    return r;
}

static int cookie_close(void *c)
{
    return gzclose_r((gzFile)c) == Z_OK ? 0 : EOF;
}

const char *gzf_resolve(const char *path, char *buf, size_t len)
{
    struct stat st;
    snprintf(buf, len, "%s", path);
    if (stat(path, &st) == 0)
        return buf;
    char gz[4096];
    snprintf(gz, sizeof gz, "%s.gz", path);
    if (stat(gz, &st) == 0)
        snprintf(buf, len, "%s", gz);
    return buf;
}

FILE *gzf_fopen(const char *path)
{
    char name[4096];
    gzf_resolve(path, name, sizeof name);
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return NULL;
    }
    /* gzdopen reads a file without the gzip magic as it is (transparent mode) */
    gzFile g = gzdopen(fd, "rb");
    if (!g) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    gzbuffer(g, GZF_CHUNK);
    cookie_io_functions_t io = {.read = cookie_read, .close = cookie_close};
    FILE *f = fopencookie(g, "rb", io);
    if (!f) {
        gzclose_r(g);
        errno = ENOMEM;
    }
    return f;
}

bool gzf_is_gz(const char *path)
{
    size_t n = strlen(path);
    return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}

static int copy_in(FILE *in, gzFile out)
{
    char *buf = malloc(GZF_CHUNK);
    if (!buf)
        return -1;
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, GZF_CHUNK, in)) > 0) {
        if (gzwrite(out, buf, (unsigned)n) != (int)n) {
            rc = -1;
            break;
        }
    }
    if (ferror(in))
        rc = -1;
    free(buf);
    return rc;
}

int gzf_compress(const char *src, const char *dst, char *err, size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    FILE *in = fopen(src, "rb");
    if (!in) {
        snprintf(err, errlen, "%s: %s", src, strerror(errno));
        return -1;
    }
    gzFile out = gzopen(tmp, "wb6");
    if (!out) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno ? errno : ENOMEM));
        fclose(in);
        return -1;
    }
    int rc = copy_in(in, out);
    int saved = errno;
    fclose(in);
    if (gzclose_w(out) != Z_OK)
        rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "compressing %s into %s: %s", src, tmp,
                 saved ? strerror(saved) : "write error");
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, dst) != 0) {
        snprintf(err, errlen, "%s: %s", dst, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (unlink(src) != 0) {
        snprintf(err, errlen, "%s: %s", src, strerror(errno));
        return -1;
    }
    return 0;
}

pcap_t *gzf_pcap_open(const char *path, char *ebuf)
{
    /* every capture through zlib: a plain file passes through as it is, so one code path reads
     * both (and the fuzz target of the reader reaches the decompression too) */
    FILE *f = gzf_fopen(path);
    if (!f) {
        snprintf(ebuf, PCAP_ERRBUF_SIZE, "%s: %s", path, strerror(errno));
        return NULL;
    }
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (!p)
        fclose(f); /* pcap closes it with the handle otherwise */
    return p;
}
