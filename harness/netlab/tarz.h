/* tarz — a .tar.gz written entry by entry (POSIX ustar inside gzip), whole or not at all: it is
 * written to "PATH.tmp" and renamed to PATH by tarz_close(commit = true); anything else
 * removes the temporary file. `tar xzf` and any ustar reader unpack it. */
#ifndef RACELAB_TARZ_H
#define RACELAB_TARZ_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct tarz;

/* NULL with err naming the file when PATH.tmp cannot be created. */
struct tarz *tarz_open(const char *path, char *err, size_t errlen);

/* A regular file NAME (a relative path: at most 255 bytes, split at a '/' into ustar's prefix
 * and name) holding n bytes of data; mode 0644. 0, or -1 with err. */
int tarz_add_mem(struct tarz *t, const char *name, const void *data, size_t n, time_t mtime,
                 char *err, size_t errlen);

/* The file at path, as NAME (its size, mode and mtime). 0, or -1 with err. */
int tarz_add_file(struct tarz *t, const char *name, const char *path, char *err, size_t errlen);

/* A directory entry NAME (with or without the trailing '/'). 0, or -1 with err. */
int tarz_add_dir(struct tarz *t, const char *name, time_t mtime, char *err, size_t errlen);

/* Ends the archive (two zero blocks), closes it and, with commit, renames it into place;
 * without commit (an error on the way) the temporary file is removed. 0, or -1 with err. */
int tarz_close(struct tarz *t, bool commit, char *err, size_t errlen);

#endif
