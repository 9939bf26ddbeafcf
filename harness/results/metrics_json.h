/* metrics_json — reading the fields of a record (a downstream request, an access-log line):
 * what metrics.c and metrics_trial.c share. */
#ifndef RACELAB_METRICS_JSON_H
#define RACELAB_METRICS_JSON_H

#include <jansson.h>
#include <stdint.h>

/* The integer (or a real, truncated) at key k of o; 0 when absent. */
static inline uint64_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return (uint64_t)json_integer_value(v);
    if (json_is_real(v))
        return (uint64_t)json_real_value(v);
    return 0;
}

/* The string at key k of o, or NULL. */
static inline const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

#endif
