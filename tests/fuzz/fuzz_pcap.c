/* fuzz_pcap — the capture analysis (analysis_read) and the explain diagram on any file.
 *
 * The input is the capture file. It is read with the hops inferred from the SYNs, with the
 * hops racelab gives (8000 downstream->proxy, 9000 proxy->upstream), and drawn by explain_print
 * (every flow, then one flow). Besides the sanitizers it checks the result's shape: each flow's
 * hop is one of the result's, two totals per hop that add up to the flows' counters,
 * analysis_find finds each flow's port again (times are not checked: a capture's timestamps may
 * go backwards, and the analysis keeps the capture's order). The file is one memfd
 * made at start-up, named by /proc/self/fd/N (libpcap opens a path): no file per input. An input
 * that starts like gzip is decompressed first, as racelab's gzip'd captures are. */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analysis.h"
#include "explain.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_pcap: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int mfd = -1;
static char path[64];
static FILE *devnull;

static const struct analysis_hop racelab_hops[] = {
    {8000, "downstream", "proxy"},
    {9000, "proxy", "upstream"},
};

static void check_result(const struct analysis_result *r)
{
    CHECK(r->ndirs == 2 * r->nhops);
    CHECK(r->unmatched <= r->packets);
    uint64_t sum[2 * 8][ANALYSIS_NCOUNTERS];
    bool small = r->nhops <= 8;
    memset(sum, 0, sizeof(sum));
    for (size_t i = 0; i < r->nflows; i++) {
        const struct analysis_flow *f = &r->flows[i];
        CHECK(f->hop >= r->hops && f->hop < r->hops + r->nhops);
        for (size_t e = 0; e < f->nevents; e++)
            CHECK(f->events[e].kind <= ANALYSIS_EV_DATA);
        const struct analysis_flow *found = analysis_find(r, f->hop, f->client_port);
        CHECK(found && found->client_port == f->client_port &&
              found->hop->server_port == f->hop->server_port);
        size_t h = (size_t)(f->hop - r->hops);
        if (small)
            for (size_t k = 0; k < ANALYSIS_NCOUNTERS; k++) {
                sum[2 * h][k] += analysis_dir_count(&f->c2s, k);
                sum[2 * h + 1][k] += analysis_dir_count(&f->s2c, k);
            }
    }
    if (!small)
        return;
    for (size_t d = 0; d < r->ndirs; d++) {
        /* struct analysis_dir_total has the counters of struct analysis_dir, in its order */
        struct analysis_dir as_dir;
        memset(&as_dir, 0, sizeof(as_dir));
#define COPY(field, help) as_dir.field = r->dirs[d].field;
        ANALYSIS_COUNTERS(COPY)
#undef COPY
        for (size_t k = 0; k < ANALYSIS_NCOUNTERS; k++)
            CHECK(analysis_dir_count(&as_dir, k) == sum[d][k]);
    }
}

static void read_with(const struct analysis_hop *hops, size_t nhops)
{
    char err[512];
    struct analysis_result r;
    if (analysis_read(path, hops, nhops, &r, err, sizeof(err)) == 0) {
        check_result(&r);
        analysis_free(&r);
    } else {
        CHECK(r.nflows == 0 && r.flows == NULL && r.nhops == 0); /* *out is then empty */
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mfd = memfd_create("racelab-fuzz-pcap", MFD_CLOEXEC);
    devnull = fopen("/dev/null", "w");
    if (mfd < 0 || !devnull) {
        perror("fuzz_pcap: memfd_create, /dev/null");
        exit(1);
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    if (ftruncate(mfd, 0) != 0 || pwrite(mfd, data, size, 0) != (ssize_t)size) {
        perror("fuzz_pcap: memfd");
        abort();
    }
    read_with(NULL, 0);
    read_with(racelab_hops, 2);

    char err[512];
    struct analysis_result r;
    if (analysis_read(path, racelab_hops, 2, &r, err, sizeof(err)) != 0)
        return 0;
    uint16_t port = r.nflows ? r.flows[r.nflows - 1].client_port : 0;
    uint64_t from = r.first_us, to = r.last_us;
    analysis_free(&r);
    (void)explain_print(devnull, path, racelab_hops, 2, 0, err, sizeof(err));
    if (port) {
        (void)explain_print(devnull, path, NULL, 0, port, err, sizeof(err));
        struct explain_flow_sel sel[2] = {
            {.hop = 0, .client_port = port, .from_us = from, .to_us = to, .whole = true},
            {.hop = 1, .client_port = 0, .from_us = from + (to - from) / 2, .to_us = to},
        };
        (void)explain_print_flows(devnull, path, racelab_hops, 2, sel, 2, 0, 0, err,
                                  sizeof(err));
    }
    return 0;
}
