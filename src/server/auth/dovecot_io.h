/*
 * What the two Dovecot connections of the auth process share (the
 * auth-client one of backend_dovecot.c, the auth-master one of
 * dovecot_userdb.c): the socket's address, the bounded line reader, the
 * reconnection backoff.
 */
#ifndef SMTPAUTHD_DOVECOT_IO_H
#define SMTPAUTHD_DOVECOT_IO_H

#include <sys/socket.h>
#include <stddef.h>

#define DOVECOT_BACKOFF_MIN_MS	100
#define DOVECOT_BACKOFF_MAX_MS	5000

struct bufferevent;
struct event;

/*
 * spec: "unix:PATH" or "inet:HOST:PORT" (a name resolved now, once) into
 * *ss.  0, or -1 (the reason in err).
 */
int	dovecot_sockaddr(const char *spec, struct sockaddr_storage *ss,
	    socklen_t *sslen, char *err, size_t errlen);

/*
 * Each whole line in *bevp's input (at most DVC_LINE_MAX octets, copied
 * into line, which has DVC_LINE_MAX + 1) goes to online, which returns -1
 * when it dropped the connection; a longer line, or no memory, goes to
 * down.  Stops when *bevp is NULL (down, or online, closed it).
 */
void	dovecot_read_lines(struct bufferevent **bevp, char *line,
	    int (*online)(const char *, size_t), void (*down)(const char *));

/*
 * What a bufferevent's event callback was told went wrong, as a reason
 * for the outage's log line; NULL when nothing did (connected).
 */
const char *dovecot_event_reason(struct bufferevent *, short what);

/* Arm retry for *backoff_ms, then double it up to the maximum. */
void	dovecot_backoff(struct event *retry, unsigned *backoff_ms);

#endif
