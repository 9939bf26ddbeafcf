/* cell_json — the JSON of a cell that is not the metrics: a cell object for a cell that never
 * ran, and the JSON-lines files its programs write. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "cell.h"
#include "gzf.h"

json_t *run_error_cell(const struct scenario_cell *c, const char *error)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "scenario", json_string(c->s->name));
    json_object_set_new(o, "mitigation", json_string(c->m->name));
    json_object_set_new(o, "trials", json_integer(c->trials));
    json_object_set_new(o, "failures", json_null()); /* no trial ran: none failed */
    json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "capture", json_null());
    return o;
}

json_t *run_read_jsonl(const char *path, char *err, size_t errlen)
{
    FILE *f = gzf_fopen(path); /* plain, or gzip'd (PATH or PATH.gz) */
    if (!f)
        return NULL;
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while (arr && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o) {
            if (!err[0])
                snprintf(err, errlen, "%s:%ld: not a JSON record (%s)", path, lineno, je.text);
            continue;
        }
        json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    return arr;
}
