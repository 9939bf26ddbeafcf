/* Every capture racelab leaves (headers-only, gzip'd) opens in tshark: a run of two small
 * scenarios (a direct one and one through the proxy), then for each cell `tshark -r
 * capture.pcap.gz` lists exactly the packets results.json says were captured, and Wireshark's
 * HTTP dissector still finds every request and response head (the heads are kept whole).
 * Without tshark (/usr/bin/tshark) the test is skipped (exit 77, SKIP in ctest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tsup.h"

#define TSHARK "/usr/bin/tshark"
#define SKIP   77

static char *tmp;

static long count_lines(const char *path)
{
    char *t = tsup_slurp(path);
    long n = 0;
    for (char *p = t; p && *p; p++)
        n += *p == '\n';
    free(t);
    return t ? n : -1;
}

/* lines tshark -r pcap [-Y filter] prints, or -1 after saying why */
static long tshark_count(const char *pcap, const char *filter)
{
    char *o = tsup_fmt("%s/tshark.out", tmp), *e = tsup_fmt("%s/tshark.err", tmp);
    char *argv[] = {TSHARK, "-n", "-r", (char *)pcap, filter ? "-Y" : NULL, (char *)filter, NULL};
    int rc = tsup_run(argv, o, e, 60000);
    long n = count_lines(o);
    if (rc != 0) {
        char *t = tsup_slurp(e);
        fprintf(stderr, "tshark -r %s: exit %d: %s\n", pcap, rc, t ? t : "");
        free(t);
        n = -1;
    }
    free(o);
    free(e);
    return n;
}

static int check_run(const char *scenario, const char *tag)
{
    char *out = tsup_fmt("%s/%s", tmp, tag), *bin = tsup_bin("racelab");
    char *scn = tsup_fmt("%s/tests/harness/scenarios/%s", RACELAB_SOURCE_DIR, scenario);
    char *ro = tsup_fmt("%s/%s.out", tmp, tag), *re = tsup_fmt("%s/%s.err", tmp, tag);
    char *argv[] = {bin, "run", scn, "--out", out, "--quiet", NULL};
    int rc = tsup_run(argv, ro, re, 180000), bad = 0;
    if (rc != 0) {
        char *t = tsup_slurp(re);
        fprintf(stderr, "racelab run %s: exit %d: %s\n", scn, rc, t ? t : "");
        free(t);
        return 1;
    }
    char *rp = tsup_fmt("%s/results.json", out);
    json_error_t je;
    json_t *res = json_load_file(rp, 0, &je), *c;
    size_t i, ncells = 0;
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        const char *pcap = json_string_value(json_object_get(c, "capture"));
        long want = (long)json_integer_value(
            json_object_get(json_object_get(c, "capture_stats"), "packets"));
        long trials = (long)json_integer_value(json_object_get(c, "trials"));
        if (!pcap || strstr(pcap, ".pcap.gz") == NULL) {
            fprintf(stderr, "%s: cell %zu: capture %s is not a .pcap.gz\n", rp, i,
                    pcap ? pcap : "null");
            bad++;
            continue;
        }
        long got = tshark_count(pcap, NULL);
        long heads = tshark_count(pcap, "http.request || http.response");
        if (got != want || want <= 0) {
            fprintf(stderr, "%s: tshark lists %ld packets, results.json says %ld\n", pcap, got,
                    want);
            bad++;
        }
        /* at least one request and one response per trial */
        if (heads < 2 * trials) {
            fprintf(stderr, "%s: tshark finds %ld HTTP heads for %ld trials\n", pcap, heads,
                    trials);
            bad++;
        }
        ncells++;
    }
    if (ncells == 0) {
        fprintf(stderr, "%s: no cell\n", rp);
        bad++;
    }
    json_decref(res);
    free(rp);
    free(out);
    free(bin);
    free(scn);
    free(ro);
    free(re);
    return bad;
}

int main(void)
{
    if (access(TSHARK, X_OK) != 0) {
        printf("SKIP: %s is not installed (apt-get install tshark)\n", TSHARK);
        return SKIP;
    }
    tmp = tsup_tmpdir("tshark");
    int bad = check_run("direct-reuse-after-close.yaml", "direct") +
              check_run("proxy-held-fin.yaml", "proxy");
    if (!getenv("RACELAB_KEEP_TMP"))
        tsup_rmtree(tmp);
    free(tmp);
    printf("%s\n", bad ? "FAILED" : "every capture opens in tshark");
    return bad ? 1 : 0;
}
