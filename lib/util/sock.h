/*
 * sock - listening and connecting sockets (inet and unix-domain), and
 * socket addresses as text.
 *
 * Every socket made here is close-on-exec; listeners are non-blocking
 * (several processes may race to accept), connected sockets are blocking
 * (stream.c bounds each wait with poll).
 */
#ifndef POSTEL_UTIL_SOCK_H
#define POSTEL_UTIL_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Room for any address text from sock_addr_text(), with a scope id. */
#define SOCK_ADDR_MAX 80
/* Room for "name[addr]". */
#define SOCK_NAMEADDR_MAX (1025 + SOCK_ADDR_MAX + 2)
/* Most listeners one inet spec can produce (e.g. "localhost:25"). */
#define SOCK_LISTEN_MAX 16

int sock_split_hostport(const char *spec, char *host, size_t hostsize, char *port,
                        size_t portsize, const char **why_r);
int sock_listen_addr(const struct sockaddr *sa, socklen_t salen, int backlog,
                     const char **why_r);
int sock_listen_inet(const char *spec, int family, int backlog, int *fds_r, size_t max_fds,
                     const char **why_r);
int sock_listen_unix(const char *path, int backlog, mode_t mode, const char **why_r);

int sock_connect_addr(const struct sockaddr *sa, socklen_t salen, int timeout_ms,
                      const char **why_r);
int sock_connect_inet(const char *host, const char *port, int family, int timeout_ms,
                      const char **why_r);
int sock_connect_unix(const char *path, int timeout_ms, const char **why_r);
int sock_trigger_unix(const char *dir, const char *path, const void *data, size_t len,
                      int timeout_ms, const char **why_r);
int sock_accept(int listen_fd, struct sockaddr_storage *ss_r, socklen_t *salen_r);

int sock_set_nonblock(int fd, bool on);
int sock_set_cloexec(int fd, bool on);

int sock_addr_text(const struct sockaddr *sa, socklen_t salen, char *addr, size_t addrsize,
                   int *port_r);
int sock_peer_text(int fd, char *addr, size_t addrsize, int *port_r, const char **why_r);
int sock_local_text(int fd, char *addr, size_t addrsize, int *port_r, const char **why_r);
void sock_name_addr(char *out, size_t outsize, const char *name, const char *addr);
bool sock_addr_is_loopback(const struct sockaddr *sa);

#endif
