/*
 * One SMTP client connection, blocking with a timeout on every step:
 * connect (IPv4, IPv6 or either), read replies, send commands, STARTTLS
 * and implicit TLS through our TLS seam (common/tls.h).
 *
 * Everything on the wire can be shown through a trace callback as it
 * happens.  Lines that carry credentials are sent with SMTPC_SECRET, and
 * challenges received while smtpc_set_secret() is on are marked so too:
 * the callback shows them as <redacted> (report.c), never in the clear.
 *
 * Results: 0 (or a positive count) for success, -1 for an error whose text
 * smtpc_error() returns; after an error other than a refused reply the
 * connection is unusable (smtpc_alive() is 0) and should be closed.
 */
#ifndef SMTPAUTH_SMTPCLIENT_H
#define SMTPAUTH_SMTPCLIENT_H

#include <sys/types.h>
#include <sys/socket.h>

#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>

#include "common/reply.h"
#include "common/tls.h"

/* What a trace line is: one of these, possibly with SMTPC_SECRET. */
#define SMTPC_SENT	1	/* a line we sent, without CRLF */
#define SMTPC_RECEIVED	2	/* a reply line, "NNN-text" */
#define SMTPC_INFO	3	/* a note: connected, TLS, closed ... */
#define SMTPC_SECRET	0x100	/* carries a credential: never show it */

typedef void	smtpc_trace_fn(void *arg, int kind, const char *text,
		    size_t len);

/*
 * Where a credential may go (smtpc_opts.allow): by default only over TLS
 * whose certificate verified in this connection's own handshake.
 */
#define SMTPC_ALLOW_UNVERIFIED	0x01	/* --insecure */
#define SMTPC_ALLOW_PLAINTEXT	0x02	/* --insecure-plaintext-auth */

struct smtpc_opts {
	int		 family;	/* AF_UNSPEC, AF_INET or AF_INET6 */
	int		 timeout_ms;	/* each step; <= 0: 30 s */
	smtpc_trace_fn	*trace;		/* NULL: no trace */
	void		*trace_arg;
	int		 allow;		/* SMTPC_ALLOW_* */
	const char	*source;	/* numeric local address, or NULL */
};

struct smtpc;

/*
 * Connect to host (a name or an address literal, IPv6 with or without
 * brackets) at port, trying each address in turn.  NULL with a message in
 * err on failure, and errno the last address's connect error
 * (ECONNREFUSED, ETIMEDOUT...), or 0 when no address could be tried.
 */
struct smtpc	*smtpc_connect(const char *host, const char *port,
		    const struct smtpc_opts *, char *err, size_t errlen);
/* Close (a TLS close_notify first, when TLS is up) and free; NULL is ok. */
void		 smtpc_close(struct smtpc *);

/*
 * TLS on the connection: implicit TLS right after connect, or after a 220
 * to STARTTLS.  Plaintext received and not yet parsed is dropped first
 * (its length is in smtpc_discarded()), as RFC 3207 wants.  servername is
 * used for SNI and the certificate's name (see tls_connect_fd()).  Whether
 * a failed verification fails the handshake is the context's choice.
 */
int		 smtpc_tls(struct smtpc *, struct tls_ctx *,
		    const char *servername);
/*
 * STARTTLS: send it, read the reply into *r, and on 220 do the handshake.
 * 1 when TLS is up, 0 when the server refused (*r says how), -1 on error
 * (a failed handshake included; *r is then the 220 or NULL).
 */
int		 smtpc_starttls(struct smtpc *, struct tls_ctx *,
		    const char *servername, const struct reply **r);

/*
 * Read the next reply.  *r stays valid until the next read on the
 * connection.  -1 on timeout, close, or anything that is not a reply;
 * for the last, smtpc_malformed() is 1 and the error says
 * "malformed reply (why): \"LINE\"", the line escaped.
 */
int		 smtpc_read_reply(struct smtpc *, const struct reply **r);
/* Did the last read fail on something that is not an SMTP reply? */
int		 smtpc_malformed(const struct smtpc *);
/* 1 if the last reply did not come within the timeout. */
int		 smtpc_timed_out(const struct smtpc *);
/* Send one command line: CRLF is added; a CR or LF inside is refused. */
int		 smtpc_send_line(struct smtpc *, int secret, const char *line,
		    size_t len);
/* Send a formatted command line and read its reply. */
int		 smtpc_cmd(struct smtpc *, const struct reply **r,
		    const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* Raw bytes, not traced (trace them with smtpc_trace()). */
int		 smtpc_write(struct smtpc *, const void *, size_t);
/*
 * A message after 354: line ends made CRLF (a bare LF or CR counts as
 * one), dot-stuffed (RFC 5321 4.5.2), a last CRLF added when missing,
 * then "." CRLF.  The reply is read by the caller.
 */
int		 smtpc_data(struct smtpc *, const char *msg, size_t len);

/*
 * Wait up to ms for something from the server: 1 when bytes are there to
 * be read (already buffered, or arriving), 0 when nothing came, -1 when
 * the connection closed or failed.
 */
int		 smtpc_wait(struct smtpc *, int ms);
/* Octets received and not yet parsed, a partial reply included. */
size_t		 smtpc_pending(const struct smtpc *);
/* Octets of plaintext the last smtpc_tls() dropped. */
size_t		 smtpc_discarded(const struct smtpc *);

/* While on, 334 lines received are traced as secret (SASL exchanges). */
void		 smtpc_set_secret(struct smtpc *, int);
/* Add a line to the trace. */
void		 smtpc_trace(struct smtpc *, int kind, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/*
 * May a real credential be sent on this connection?  NULL when it may,
 * else why not.  The answer is this connection's own: whether TLS is up on
 * it and whether the certificate verified in its handshake, never what an
 * earlier connection to the same server found.
 */
const char	*smtpc_credential_refused(const struct smtpc *);
/*
 * The same rule for a connection that is not a struct smtpc (load's):
 * tls_up, verified (its handshake's tls_peer_verified()), SMTPC_ALLOW_*.
 */
const char	*smtpc_credential_rule(int tls_up, int verified, int allow);

const char	*smtpc_error(const struct smtpc *);
int		 smtpc_alive(const struct smtpc *);
int		 smtpc_fd(const struct smtpc *);
/* The TLS connection once smtpc_tls() succeeded, else NULL. */
struct tls	*smtpc_tls_conn(const struct smtpc *);
/* Numeric addresses of both ends, and the ends as sockaddrs. */
const char	*smtpc_peer_addr(const struct smtpc *);
const char	*smtpc_local_addr(const struct smtpc *);
const char	*smtpc_peer_port(const struct smtpc *);
const struct sockaddr_storage *smtpc_local_sockaddr(const struct smtpc *);
void		 smtpc_set_timeout(struct smtpc *, int ms);

#endif
