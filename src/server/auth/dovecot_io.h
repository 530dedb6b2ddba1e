/*
 * What the two Dovecot connections of the auth process share (the
 * auth-client one of backend_dovecot.c, the auth-master one of
 * dovecot_userdb.c): the socket's address, connecting, the bounded line
 * reader, the reconnection backoff.
 */
#ifndef SMTPAUTHD_DOVECOT_IO_H
#define SMTPAUTHD_DOVECOT_IO_H

#include <sys/socket.h>
#include <stddef.h>

#define DOVECOT_BACKOFF_MIN_MS	100
#define DOVECOT_BACKOFF_MAX_MS	5000

struct bufferevent;
struct event;
struct event_base;

/*
 * spec: "unix:PATH" or "inet:HOST:PORT" (a name resolved now, once) into
 * *ss.  0, or -1 (the reason in err).
 */
int	dovecot_sockaddr(const char *spec, struct sockaddr_storage *ss,
	    socklen_t *sslen, char *err, size_t errlen);

/*
 * A bufferevent in *bevp connecting to ss, with readcb and eventcb (arg
 * NULL), hello written first (we never wait for the server's greeting:
 * Dovecot 2.4 waits for ours) and reading enabled.  0; -1 with the reason
 * in *why (the caller's outage: *bevp may still be set); 1 when the
 * connection failed at once and eventcb has already dealt with it.
 */
int	dovecot_connect(struct event_base *base, struct bufferevent **bevp,
	    const struct sockaddr_storage *ss, socklen_t sslen,
	    void (*readcb)(struct bufferevent *, void *),
	    void (*eventcb)(struct bufferevent *, short, void *),
	    const char *hello, size_t hellolen, const char **why);

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
