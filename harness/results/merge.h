/* merge — shard results joined into one run (racelab merge): the inputs read (run folders or
 * results.json files), checked against each other, and their cells put together into one
 * results.json and a suite that the table and junit.xml are written from.
 *
 * Refused (merge_load returns -1, err names the files): an input that is not a racelab
 * results.json, results of different racelab versions ("racelab_version"), a cell (scenario ×
 * mitigation) in two inputs. Warned about (on the warn stream): shards of different N, a shard
 * of 1..N that no input holds, shards run on cell lists of different sizes, inputs run with a
 * different proxy, netns or --repeat.
 *
 * Cell folders are referenced, not copied: each cell's "dir", "capture" and its repetitions'
 * "dir" are rewritten to absolute paths inside the input's folder as found at merge time
 * (INPUT/SCENARIO/MITIGATION...). Cells are in the order of the whole matrix ("matrix_index")
 * when every input is a shard of the same N, else in the order of the inputs. */
#ifndef RACELAB_MERGE_H
#define RACELAB_MERGE_H

#include <jansson.h>
#include <stdio.h>

#include "scenario.h"
#include "suite.h"

struct merge_input {
    char *file; /* the results.json read, absolute */
    char *dir;  /* its folder, absolute */
    json_t *res;
};

struct merge {
    struct merge_input *in;
    size_t nin;
    struct suite su;        /* the merged cells (result, status), for the table and junit.xml */
    struct scenario **scns; /* what the cells name: a scenario per name, with its file */
    size_t nscns;
    struct scenario_mit *mits; /* a mitigation per cell */
    json_t *results;           /* the merged results.json */
};

/* Reads and checks every input (paths[0..n)) and joins them with run_id. 0; -1 with why in err
 * (bad input). Warnings go to warn. */
int merge_load(struct merge *mg, char **paths, size_t n, const char *run_id, FILE *warn, char *err,
               size_t errlen);

void merge_free(struct merge *mg);

#endif
