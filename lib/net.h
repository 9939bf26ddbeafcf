/* net — socket helpers shared by the programs: addresses, listeners, port publication, and the
 * socket options that decide how a connection ends (FIN, RST, FIN with the last data). */
#ifndef RACELAB_NET_H
#define RACELAB_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* "HOST:PORT", "PORT" or ":PORT" (HOST defaults to 127.0.0.1); numeric IPv4 only. */
int net_parse_addr(const char *s, struct sockaddr_in *out, char *err, size_t errlen);

/* Non-blocking listening socket with SO_REUSEADDR; -1 with errno on failure. */
int net_listen(const struct sockaddr_in *addr, int backlog);

/* Non-blocking connect; returns the fd (connection possibly in progress) or -1. */
int net_connect_nb(const struct sockaddr_in *addr);

int net_local_port(int fd);
int net_peer_port(int fd);

/* Writes "PORT\n" to path atomically (temp file + rename) so readers never see half of it. */
int net_write_port_file(const char *path, int port);

int net_set_nonblock(int fd);
int net_set_nodelay(int fd);
/* SO_LINGER {1, 0}: close() then sends RST instead of FIN. */
int net_set_linger0(int fd);
/* TCP_CORK on/off: with cork on, data and the FIN of a later close() leave in one segment. */
int net_set_cork(int fd, bool on);

/* Pending error of a socket (SO_ERROR), 0 when none. */
int net_socket_error(int fd);

#endif
