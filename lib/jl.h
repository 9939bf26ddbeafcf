/* jl — JSON-lines records: one object per line, built in a fixed buffer, written with one
 * write so that concurrent writers of the same file never interleave inside a line.
 *
 *   struct jl j; jl_begin(&j);
 *   jl_str(&j, "event", "accept"); jl_int(&j, "port", 4242);
 *   jl_write(&j, fd);
 */
#ifndef RACELAB_JL_H
#define RACELAB_JL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JL_MAX 4096

struct jl {
    char buf[JL_MAX];
    size_t len;
    bool first;
    bool overflow;
};

void jl_begin(struct jl *j);
void jl_str(struct jl *j, const char *key, const char *val);
void jl_strn(struct jl *j, const char *key, const char *val, size_t n);
void jl_int(struct jl *j, const char *key, long long val);
void jl_uint(struct jl *j, const char *key, unsigned long long val);
void jl_bool(struct jl *j, const char *key, bool val);
void jl_double(struct jl *j, const char *key, double val);
/* val must already be valid JSON (an object, an array, a number). */
void jl_raw(struct jl *j, const char *key, const char *val);
/* Closes the object and returns the line (with its newline). */
const char *jl_end(struct jl *j);
/* jl_end + one write(2) to fd; returns 0, or -1 with errno. A negative fd writes nothing. */
int jl_write(struct jl *j, int fd);

/* Escapes s as a JSON string (with quotes) into out; returns the length, truncating safely. */
size_t jl_escape(char *out, size_t cap, const char *s, size_t n);

#endif
