/*
 * The Dovecot connections' shared pieces (dovecot_io.h).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "server/auth/dovecot_io.h"
#include "server/auth/dovecot_proto.h"
#include "server/shared/config.h"

int
dovecot_sockaddr(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct addrinfo		 hints, *res;
	char			*buf, *path, *host, *port;
	int			 rc;

	if (config_dovecot_auth(spec, &buf, &path, &host, &port) == -1) {
		snprintf(err, errlen, "%s: malformed", spec);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (path != NULL) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(sun.sun_path)) {
			snprintf(err, errlen, "%s: path too long", path);
			free(buf);
			return -1;
		}
		memcpy(sun.sun_path, path, strlen(path));
		memcpy(ss, &sun, sizeof(sun));
		*sslen = sizeof(sun);
		free(buf);
		return 0;
	}
	/* Once, at start: the loop never waits for a resolver. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc));
		free(buf);
		return -1;
	}
	rc = 0;
	if (res->ai_addrlen > sizeof(*ss)) {
		snprintf(err, errlen, "%s: address too long", spec);
		rc = -1;
	} else {
		memcpy(ss, res->ai_addr, res->ai_addrlen);
		*sslen = res->ai_addrlen;
	}
	freeaddrinfo(res);
	free(buf);
	return rc;
}

int
dovecot_connect(struct event_base *base, struct bufferevent **bevp,
    const struct sockaddr_storage *ss, socklen_t sslen,
    void (*readcb)(struct bufferevent *, void *),
    void (*eventcb)(struct bufferevent *, short, void *),
    const char *hello, size_t hellolen, const char **why)
{
	*bevp = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (*bevp == NULL) {
		*why = "out of memory";
		return -1;
	}
	bufferevent_setcb(*bevp, readcb, NULL, eventcb, NULL);
	if (bufferevent_socket_connect(*bevp, (const struct sockaddr *)ss,
	    (int)sslen) == -1) {
		*why = strerror(errno);
		return -1;
	}
	if (*bevp == NULL)
		return 1;	/* failed at once: eventcb ran */
	if (bufferevent_write(*bevp, hello, hellolen) == -1 ||
	    bufferevent_enable(*bevp, EV_READ) == -1) {
		*why = "cannot send the handshake";
		return -1;
	}
	return 0;
}

void
dovecot_read_lines(struct bufferevent **bevp, char *line,
    int (*online)(const char *, size_t), void (*down)(const char *))
{
	struct evbuffer	*in;
	const char	*buf;
	size_t		 have, len;
	int		 rc;

	while (*bevp != NULL && (have = evbuffer_get_length(in =
	    bufferevent_get_input(*bevp))) > 0) {
		if (have > DVC_LINE_MAX + 1)
			have = DVC_LINE_MAX + 1;
		if ((buf = (const char *)evbuffer_pullup(in,
		    (ssize_t)have)) == NULL) {
			down("out of memory");
			return;
		}
		if ((rc = dvc_frame(buf, have, &len)) == 0)
			return;
		if (rc == -1) {
			down("a line too long");
			return;
		}
		memcpy(line, buf, len);
		evbuffer_drain(in, len + 1);
		if (online(line, len) == -1)
			return;
	}
}

const char *
dovecot_event_reason(struct bufferevent *bev, short what)
{
	if (what & BEV_EVENT_EOF)
		return "closed by Dovecot";
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		return evutil_socket_error_to_string(
		    evutil_socket_geterror(bufferevent_getfd(bev)));
	return NULL;
}

void
dovecot_backoff(struct event *retry, unsigned *backoff_ms)
{
	struct timeval	tv;

	tv.tv_sec = *backoff_ms / 1000;
	tv.tv_usec = (suseconds_t)(*backoff_ms % 1000) * 1000;
	evtimer_add(retry, &tv);
	*backoff_ms *= 2;
	if (*backoff_ms > DOVECOT_BACKOFF_MAX_MS)
		*backoff_ms = DOVECOT_BACKOFF_MAX_MS;
}
