/* ports — where a cell's programs listen: fixed ports inside the cell's own network namespace,
 * free ports of the host's loopback with --no-netns. */
#include "cell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int free_port(char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        snprintf(err, errlen, "no free port on 127.0.0.1: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

int run_ports(enum scenario_topo t, bool netns, uint16_t ports[4], char *err, size_t errlen)
{
    const char *names[4];
    size_t n = scenario_topo_nodes(t, names);
    memset(ports, 0, 4 * sizeof(*ports));
    for (size_t i = 1; i < n; i++) {
        if (netns) {
            ports[i] = i == n - 1 ? RUN_UPSTREAM_PORT : (uint16_t)(RUN_PROXY_PORT + i - 1);
            continue;
        }
        int p = free_port(err, errlen);
        if (p < 0)
            return -1;
        ports[i] = (uint16_t)p;
    }
    return 0;
}
