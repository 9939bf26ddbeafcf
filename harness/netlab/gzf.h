/* gzf — gzip'd files of a run folder: written whole or not at all, read the same way as plain
 * ones.
 *
 * A run folder keeps its captures (capture.pcap.gz) and its bulkiest logs (downstream.jsonl.gz,
 * upstream.log.gz, *.access.jsonl.gz) gzip'd. Every reader goes through gzf_fopen(), which
 * reads either form: a plain file as it is, a gzip'd one decompressed, and the ".gz" sibling
 * when the plain name does not exist — so code that names "downstream.jsonl" reads a finished
 * run folder (gzip'd) and a cell still running (plain) alike. */
#ifndef RACELAB_GZF_H
#define RACELAB_GZF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <pcap/pcap.h>

/* Opens path for reading: a plain file, or a gzip'd one (decompressed as it is read); when
 * path does not exist, path + ".gz". NULL with errno set (ENOENT when neither exists). The
 * stream is an ordinary FILE * (fread, getline, fclose). */
FILE *gzf_fopen(const char *path);

/* The name gzf_fopen would open: path when it exists, else path + ".gz" when that exists,
 * else path. buf holds at least len bytes. */
const char *gzf_resolve(const char *path, char *buf, size_t len);

/* Compresses src into dst (gzip, level 6): written to "dst.tmp", then renamed, then src
 * removed — at every moment one of the two is complete. 0, or -1 with err naming the file
 * (src is then left as it was and no dst.tmp remains). */
int gzf_compress(const char *src, const char *dst, char *err, size_t errlen);

/* Whether path ends in ".gz". */
bool gzf_is_gz(const char *path);

/* A capture opened for reading with microsecond timestamps, plain or gzip'd (.pcap, .pcapng,
 * .pcap.gz), as pcap_open_offline does for a path; NULL with the reason in ebuf
 * (PCAP_ERRBUF_SIZE). */
pcap_t *gzf_pcap_open(const char *path, char *ebuf);

#endif
