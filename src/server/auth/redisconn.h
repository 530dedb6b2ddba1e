/*
 * One connection to Redis (or Valkey) on an event loop, plain or TLS.
 *
 * hiredis does the protocol only: it encodes commands and parses replies.
 * The bytes go over a libevent bufferevent, a socket one or an OpenSSL
 * one (Debian's hiredis 0.14 has no TLS of its own), so both kinds of
 * connection give the same interface: commands queued with a callback
 * each, answered in order, and the replies nobody asked for (the messages
 * of a subscribed connection) handed to a push callback.
 *
 * Every reply is bounded (REDISCONN_REPLY_MAX bytes buffered while it is
 * incomplete, REDISCONN_OBJECTS_MAX values in it, REDISCONN_STRING_MAX
 * bytes a string): a server that sends more, or a reply nobody asked for
 * on a connection without a push callback, is a protocol error and the
 * connection is closed.
 */
#ifndef SMTPAUTHD_REDISCONN_H
#define SMTPAUTHD_REDISCONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "server/shared/config.h"

#define REDISCONN_REPLY_MAX	(1024 * 1024)
#define REDISCONN_OBJECTS_MAX	16384
#define REDISCONN_STRING_MAX	(64 * 1024)

struct event_base;
struct redisconn;
struct redisconn_tls;	/* a client TLS configuration, made once */

/*
 * A command's answer; reply NULL when none will come (the connection was
 * freed or closed first).  The reply is freed after the callback returns.
 */
typedef void	 redisconn_reply_fn(struct redisconn *, redisReply *,
		    void *priv);
/*
 * The connection failed (refused, closed, a TLS or protocol error): why,
 * for a log line.  Called once; the owner frees the connection then (it
 * may do it from this callback).
 */
typedef void	 redisconn_fail_fn(struct redisconn *, const char *why,
		    void *arg);

/*
 * TLS for rediss://: the server's certificate is verified against ca_file
 * (NULL: the system store); cert and key (both or neither) are a client
 * certificate for Redis's tls-auth-clients.  TLS 1.2 at least.  NULL with
 * the reason in err.
 */
struct redisconn_tls *redisconn_tls_new(const char *ca_file,
		    const char *cert, const char *key, char *err,
		    size_t errlen);
void		 redisconn_tls_free(struct redisconn_tls *);

/*
 * Start connecting to gs (TCP or unix; with TLS when tls is not NULL:
 * the certificate must name tls_name, or gs's address when tls_name is
 * NULL, and a DNS name is sent as SNI).  Commands may be queued at once.
 * NULL with the reason in err.
 */
struct redisconn *redisconn_new(struct event_base *,
		    const struct guard_store *gs, struct redisconn_tls *tls,
		    const char *tls_name, redisconn_fail_fn *, void *arg,
		    char *err, size_t errlen);
/* Queue a command (binary-safe arguments); 0, or -1 (fn not called). */
int		 redisconn_command(struct redisconn *, redisconn_reply_fn *,
		    void *priv, int argc, const char **argv,
		    const size_t *argl);
/* Replies with no command waiting go to fn (a subscribed connection). */
void		 redisconn_set_push(struct redisconn *, redisconn_reply_fn *,
		    void *priv);
/*
 * Close and free it: the callbacks of unanswered commands are called
 * with NULL, the fail callback is not.  Safe from inside any callback.
 */
void		 redisconn_free(struct redisconn *);

/*
 * The bounded reader on its own (each connection has one; the fuzz
 * harness drives one too).  _feed: 0, or -1 with why (the bytes would
 * make the incomplete reply more than REDISCONN_REPLY_MAX).  _next: 1
 * with a reply (freeReplyObject() it), 0 while it is incomplete, or -1
 * with why (a protocol error, a bound passed): the reader is then broken.
 */
struct redisconn_reader;
struct redisconn_reader *redisconn_reader_new(void);
void		 redisconn_reader_free(struct redisconn_reader *);
int		 redisconn_reader_feed(struct redisconn_reader *,
		    const char *, size_t, const char **why);
int		 redisconn_reader_next(struct redisconn_reader *,
		    redisReply **, char *why, size_t whylen);

#endif
