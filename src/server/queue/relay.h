/*
 * The relay: an event-driven SMTP client for the queue process.  One
 * relay_conn is one connection to one destination (a domain's mail hosts
 * or the smarthost); it sets itself up (connect, greeting, EHLO or HELO,
 * STARTTLS, AUTH), then carries transactions one after the other (MAIL,
 * RCPT, DATA, RSET) until it is told to QUIT or it fails.
 *
 * Everything runs on the caller's libevent loop; nothing blocks except
 * reading the spooled message, a local file, in chunks as the socket
 * drains.  Replies are parsed with common/reply.c.
 */
#ifndef SMTPAUTHD_RELAY_H
#define SMTPAUTHD_RELAY_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "common/reply.h"
#include "server/queue/dns.h"
#include "server/shared/config.h"

struct event_base;
struct tls_ctx;
struct relay_conn;

/* The stored text of a reply or of our own error; envelope.h's limit. */
#define RELAY_TEXT_MAX	400
#define RELAY_HOST_MAX	(DNS_NAME_MAX + 64)

enum relay_result {
	RELAY_NONE = 0,		/* not yet known */
	RELAY_SENT,		/* 2xx after the message */
	RELAY_DEFER,		/* 4xx or trouble: try again later */
	RELAY_BOUNCE,		/* 5xx: failed for good */
};

struct relay_rcpt {
	const char		*addr;
	enum relay_result	 result;
	/* The server's reply ("550 5.1.1 ...", lines joined with spaces)
	 * or our own ("4.4.2 connection lost during DATA"). */
	char			 text[RELAY_TEXT_MAX + 1];
};

/* One message to some recipients; the caller's memory until DONE. */
struct relay_txn {
	const char		*from;		/* "" for <> */
	struct relay_rcpt	*rcpts;
	size_t			 nrcpts;
	int			 msgfd;		/* the spooled message */
	off_t			 msgoff;	/* where it starts in msgfd */
	off_t			 msgend;	/* and ends (the file may go on) */
	/* Sent before it as it is (a DKIM-Signature field); may be NULL. */
	const char		*prefix;
	size_t			 prefixlen;
	uint64_t		 size;
	int			 body8bit;
	int			 smtputf8;
};

/* What the server's EHLO reply offers. */
struct relay_caps {
	int		esmtp;		/* EHLO worked (HELO otherwise) */
	int		starttls;
	int		pipelining;
	int		eightbitmime;
	int		smtputf8;
	int		auth_plain;
	int		auth_login;
	int		size;		/* SIZE offered */
	uint64_t	size_max;	/* its limit; 0: none given */
};

struct relay_params {
	const char	*helo;		/* our host name */
	enum relay_tls	 tls;
	struct tls_ctx	*tls_verify;	/* required/implicit: verifies */
	struct tls_ctx	*tls_any;	/* opportunistic: does not */
	/* The name the certificate must match (the smarthost); NULL: each
	 * target's host name. */
	const char	*servername;
	const char	*auth_user;	/* NULL: no AUTH */
	const char	*auth_pass;
	uint16_t	 port;
	unsigned	 connect_timeout;	/* seconds */
	unsigned	 command_timeout;
	unsigned	 data_timeout;		/* the reply to the final dot */
	unsigned	 idle_timeout;		/* READY without work: QUIT */
};

enum relay_event {
	/* Ready for relay_send(); not sent again until the next READY. */
	RELAY_EV_READY,
	/* The transaction given to relay_send() is over: every recipient
	 * has its result.  The caller may free it. */
	RELAY_EV_DONE,
	/* The connection is gone (after QUIT, a failure or relay_abort());
	 * the relay_conn is freed when the callback returns.  If it never
	 * was READY, relay_error() says why. */
	RELAY_EV_CLOSED,
};

typedef void	(*relay_cb)(struct relay_conn *, enum relay_event, void *arg);

/*
 * Start a connection to the first target that works (targets are copied;
 * the port is params->port).  Strings in params must outlive the
 * connection.  NULL when out of memory.
 */
struct relay_conn *relay_conn_new(struct event_base *,
		    const struct relay_params *, const struct dns_target *,
		    size_t ntargets, relay_cb, void *arg);
/* Start a transaction; only after READY.  0, or -1 if not ready. */
int		 relay_send(struct relay_conn *, struct relay_txn *);
/* QUIT now if idle, else once the transaction is over. */
void		 relay_quit(struct relay_conn *);
/* Close without ceremony; a transaction under way is deferred. */
void		 relay_abort(struct relay_conn *);

/* "name[address]" of the host connected to (or tried last). */
const char	*relay_host(const struct relay_conn *);
uint16_t	 relay_port(const struct relay_conn *);
int		 relay_tls_active(const struct relay_conn *);
/* Why the connection failed before it was ever READY ("4.4.1 ..."). */
const char	*relay_error(const struct relay_conn *);
int		 relay_was_ready(const struct relay_conn *);

/* What an EHLO reply offers (pure; for tests and the fuzzer). */
void		 relay_caps_parse(const struct reply *, struct relay_caps *);

/*
 * Dot-stuffing (RFC 5321 4.5.2) of the spooled message as it is read in
 * pieces: a '.' at the start of a line gets another, and a bare LF or a
 * bare CR becomes CRLF, so what is sent never holds either (the SMTP
 * smuggling defence on the way out).  out has room for 2 * len + 2
 * octets; returns the octets written.  relay_dotstuff_end() writes the
 * end of DATA (at most 5 octets).
 */
struct relay_stuffer {
	int	started;
	int	bol;		/* at the beginning of a line */
	int	cr;		/* a CR is held back: is it bare? */
};

size_t		 relay_dotstuff(struct relay_stuffer *, const char *in,
		    size_t len, char *out);
size_t		 relay_dotstuff_end(struct relay_stuffer *, char *out);

/* "550 5.1.1 text text" from a reply, cut to fit (pure). */
void		 relay_reply_text(const struct reply *, char *out,
		    size_t outlen);

#endif
