/* explain_hops — the hop map racelab writes next to each capture ("<pcap>.hops", lines
 * "PORT CLIENT SERVER"), so that `racelab explain PCAP` names the sides of each hop. */
#include "explain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "X.pcap.hops" for X.pcap and for its gzip'd X.pcap.gz alike */
static void sidecar_path(char *buf, size_t n, const char *pcap_path)
{
    size_t len = strlen(pcap_path);
    if (len >= 3 && strcmp(pcap_path + len - 3, ".gz") == 0)
        len -= 3;
    snprintf(buf, n, "%.*s.hops", (int)len, pcap_path);
}

int explain_read_hops(const char *pcap_path, struct analysis_hop *hops, size_t cap, char *err,
                      size_t errlen)
{
    char path[4096];
    sidecar_path(path, sizeof path, pcap_path);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0;
    int lineno = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            goto bad;
        }
        char *p = line + strspn(line, " \t");
        if (*p == '\n' || *p == '\0' || *p == '#')
            continue;
        unsigned port;
        char client[128], server[128], extra[2];
        int k = sscanf(p, "%u %127s %127s %1s", &port, client, server, extra);
        if (k != 3 || port == 0 || port > 65535) {
            snprintf(err, errlen, "%s:%d: expected 'PORT CLIENT SERVER'", path, lineno);
            goto bad;
        }
        if (n == cap) {
            snprintf(err, errlen, "%s:%d: more than %zu hops", path, lineno, cap);
            goto bad;
        }
        hops[n].server_port = (uint16_t)port;
        hops[n].client = strdup(client);
        hops[n].server = strdup(server);
        n++;
        if (!hops[n - 1].client || !hops[n - 1].server) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto bad;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto bad;
    }
    fclose(f);
    return (int)n;
bad:
    fclose(f);
    explain_hops_free(hops, n);
    return -1;
}

int explain_write_hops(const char *pcap_path, const struct analysis_hop *hops, size_t nhops)
{
    char path[4096], tmp[4200];
    sidecar_path(path, sizeof path, pcap_path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "# PORT CLIENT SERVER — the sides of each hop of %s\n", pcap_path);
    for (size_t i = 0; i < nhops; i++)
        fprintf(f, "%u %s %s\n", hops[i].server_port, hops[i].client, hops[i].server);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

void explain_hops_free(struct analysis_hop *hops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)hops[i].client);
        free((char *)hops[i].server);
        hops[i].client = hops[i].server = NULL;
    }
}
