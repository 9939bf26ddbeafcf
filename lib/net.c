#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int net_parse_addr(const char *s, struct sockaddr_in *out, char *err, size_t errlen)
{
    char host[64] = "127.0.0.1";
    const char *port = s;
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!s || !*s) {
        snprintf(err, errlen, "expected HOST:PORT, got an empty value");
        return -1;
    }
    if (colon) {
        size_t hl = (size_t)(colon - s);
        if (hl >= sizeof(host)) {
            snprintf(err, errlen, "host too long in '%s'", s);
            return -1;
        }
        if (hl > 0) {
            memcpy(host, s, hl);
            host[hl] = '\0';
        }
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "expected HOST:PORT with a port in [0, 65535], got '%s'", s);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)p);
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
        snprintf(err, errlen, "expected a numeric IPv4 host, got '%s'", host);
        return -1;
    }
    return 0;
}

int net_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int net_set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int net_set_linger0(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

int net_set_cork(int fd, bool on)
{
    int v = on;
    return setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
}

int net_socket_error(int fd)
{
    int e = 0;
    socklen_t l = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
        return errno;
    return e;
}

int net_listen(const struct sockaddr_in *addr, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int net_connect_nb(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int port_of(int fd, bool peer)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    int rc = peer ? getpeername(fd, (struct sockaddr *)&a, &l)
                  : getsockname(fd, (struct sockaddr *)&a, &l);
    return rc == 0 ? ntohs(a.sin_port) : -1;
}

int net_local_port(int fd)
{
    return port_of(fd, false);
}

int net_peer_port(int fd)
{
    return port_of(fd, true);
}

int net_write_port_file(const char *path, int port)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}
