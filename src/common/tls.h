/*
 * Our TLS seam: a small, libtls-shaped API over OpenSSL 3, shared by the
 * server and the tester.
 *
 * A configuration is built once with secure defaults (TLS 1.2 and 1.3 only,
 * modern AEAD ciphers, server cipher preference, ECDHE only) and shared by
 * all connections.  A connection is opaque; every call that can block on
 * the network returns TLS_WANT_POLLIN or TLS_WANT_POLLOUT instead, so an
 * event loop drives it.  Errors are strings on the object.
 */
#ifndef SMTPAUTH_TLS_H
#define SMTPAUTH_TLS_H

#include <sys/types.h>
#include <stddef.h>
#include <time.h>

#define TLS_WANT_POLLIN		-2
#define TLS_WANT_POLLOUT	-3

struct tls_ctx;		/* a configured server or client context */

/*
 * Make OpenSSL wipe every block it frees or moves (realloc) in this
 * process and in the processes it forks: OpenSSL frees some copies of a
 * private key it decodes (DER buffers, ASN.1 strings) without wiping
 * them, and a fork would hand those freed bytes to every child.  Call it
 * first thing in main(), before any other OpenSSL call; 0, or -1 when
 * OpenSSL already allocated memory.
 */
int		 tls_wipe_freed_memory(void);
struct tls;		/* one connection */
struct tls_ticket_keys;	/* session-ticket keys shared by processes */

/*
 * Session-ticket keys in shared memory: made once by a parent before it
 * forks, so that a ticket issued by one worker is accepted by all.  The
 * parent calls tls_ticket_keys_rotate() periodically (new key for issuing;
 * the previous ones still decrypt for two more periods).
 */
struct tls_ticket_keys *tls_ticket_keys_new(void);
void		 tls_ticket_keys_rotate(struct tls_ticket_keys *);
/*
 * tls-ticket-keys: use the keys of the file at path instead (nginx's
 * ssl_session_ticket_key format: 1 to TLS_TICKET_KEYS_MAX keys of 80
 * bytes, name | HMAC key | AES-256 key, or of 48 bytes, AES-128): the
 * first issues tickets, all open them, none is rotated.  Nodes given the
 * same file resume one another's tickets.  path NULL: back to keys of
 * our own (kept when they are ours already).  tk NULL: only check the file.  0, or -1 with a message in
 * err (the keys in use are unchanged).
 */
int		 tls_ticket_keys_load(struct tls_ticket_keys *,
		    const char *path, char *err, size_t errlen);
/* Wipe the keys (for every process that maps them) and unmap them. */
void		 tls_ticket_keys_free(struct tls_ticket_keys *);
/* Unmap them from this process only: the others keep using them. */
void		 tls_ticket_keys_unmap(struct tls_ticket_keys *);

/*
 * Key slots in the shared region (the current key and two previous ones)
 * and the rotation period the server's session lifetime is made for
 * (sessions live 2 * TLS_TICKET_ROTATE_SECS): the parent should call
 * tls_ticket_keys_rotate() this often.
 */
#define TLS_TICKET_SLOTS	3
#define TLS_TICKET_KEYS_MAX	4	/* slots: keys of a file, at most */
#define TLS_TICKET_ROTATE_SECS	3600

/*
 * A server context.  certs/keys are parallel arrays of PEM file names (one
 * pair per key type, e.g. an ECDSA and an RSA certificate; up to 4); the
 * full chain in each cert file is sent.  A key that does not match its
 * certificate is an error.  tickets may be NULL (no resumption across
 * processes; the in-process session cache is still used).  Returns NULL
 * with a message in err.
 */
struct tls_ctx	*tls_server_new(const char *const *certs,
		    const char *const *keys, size_t npairs,
		    struct tls_ticket_keys *tickets, char *err, size_t errlen);

/*
 * A client context.  ca_file NULL: the system store.  insecure: do not
 * verify the peer (the tester's --insecure; verification results are still
 * available from tls_peer_verified()).  min_version 0: TLS 1.2; else one of
 * the TLS1_x_VERSION numbers (the tester may probe older versions: below
 * TLS 1.2 the context runs at OpenSSL security level 0).  max_version 0:
 * TLS 1.3.
 */
struct tls_ctx	*tls_client_new(const char *ca_file, int insecure,
		    int min_version, int max_version, char *err,
		    size_t errlen);
/*
 * Connections hold a reference to their context: it may be freed (e.g. on
 * a configuration reload) while connections made from it are still open.
 */
void		 tls_ctx_free(struct tls_ctx *);

/* A connection on a connected non-blocking socket; NULL on ENOMEM. */
struct tls	*tls_accept_fd(struct tls_ctx *, int fd);
/*
 * servername: SNI and the name verified against the certificate; an IP
 * address (IPv6 with or without brackets) is not sent as SNI and is checked
 * against the certificate's addresses.  NULL: no SNI and no name check (the
 * chain is still verified).
 */
struct tls	*tls_connect_fd(struct tls_ctx *, int fd,
		    const char *servername);

/* 0 when done, TLS_WANT_POLLIN/TLS_WANT_POLLOUT, or -1 (tls_error()). */
int		 tls_handshake(struct tls *);
/*
 * Bytes read (> 0), 0 at a clean close, TLS_WANT_*, or -1.  Reads may
 * return data buffered inside the library: call until TLS_WANT_POLLIN.
 */
ssize_t		 tls_read(struct tls *, void *, size_t);
/*
 * Bytes written (> 0, possibly fewer than asked), TLS_WANT_*, or -1.  After
 * TLS_WANT_* call again with the same bytes (the buffer may move).  Writing
 * to a socket the peer closed raises SIGPIPE: ignore it in the program.
 */
ssize_t		 tls_write(struct tls *, const void *, size_t);
/*
 * Send close_notify (best effort, non-blocking, once); does not close fd.
 * Call it before tls_free() at the end of a good connection: OpenSSL drops
 * a session from its cache when a connection ends without one.
 */
void		 tls_close(struct tls *);
void		 tls_free(struct tls *);
const char	*tls_error(struct tls *);

/* After the handshake: "TLSv1.3", "TLS_AES_256_GCM_SHA384", ... */
const char	*tls_conn_version(struct tls *);
const char	*tls_conn_cipher(struct tls *);
int		 tls_conn_cipher_bits(struct tls *);
int		 tls_conn_resumed(struct tls *);
/*
 * Channel binding "tls-exporter" (RFC 9266): TLS_CBIND_LEN octets of
 * keying material exported with the label "EXPORTER-Channel-Binding" and
 * an empty context.  Only after a TLS 1.3 handshake (RFC 9266 3: with TLS
 * 1.2 the exporter is unsafe without extended master secret): 0, else -1.
 */
#define TLS_CBIND_LEN	32
int		 tls_conn_cbind(struct tls *, unsigned char *, size_t);

/* Client side: was the chain and host name verified?  1, 0. */
int		 tls_peer_verified(struct tls *);
/* Why not, as a string ("certificate has expired", ...). */
const char	*tls_peer_verify_error(struct tls *);
/*
 * Does the peer certificate name host (a DNS name, or an address literal,
 * brackets allowed)?  1, 0, or -1 without a certificate.  Whatever the
 * chain: --insecure trusts any issuer, never another name.
 */
int		 tls_peer_cert_names(struct tls *, const char *host);
/* The peer certificate's notAfter, subject and issuer (one line each). */
int		 tls_peer_cert_notafter(struct tls *, time_t *);
int		 tls_peer_cert_subject(struct tls *, char *, size_t);
int		 tls_peer_cert_issuer(struct tls *, char *, size_t);

/*
 * Below the seam, for the tester's TLS audit only: it offers chosen
 * versions and cipher suites at security level 0 on a client context of
 * its own, and reads what the server chose (the suite, the key exchange's
 * group, the chain it sent, a stapled OCSP response).  Nothing else
 * should need these; the objects stay owned by ours.
 */
struct ssl_ctx_st	*tls_ctx_openssl(struct tls_ctx *);
struct ssl_st		*tls_conn_openssl(struct tls *);

/* Give OpenSSL's buffers back while a connection is idle. */
void		 tls_release_buffers(struct tls *);

/*
 * Client-side resumption (the tester's --resume).  tls_get_session()
 * returns the session to offer on a later connection to the same server
 * as an opaque blob of *len bytes, or NULL when there is none yet: TLS 1.3
 * tickets arrive after the handshake, so read some data first (e.g. the
 * greeting).  The blob holds the session's master secret: release it with
 * tls_session_free(), which wipes it.  tls_set_session() offers a blob on
 * a new connection before tls_handshake(); 0 or -1 (tls_error()).  Whether
 * the server took it: tls_conn_resumed() after the handshake.
 */
unsigned char	*tls_get_session(struct tls *, size_t *len);
void		 tls_session_free(unsigned char *, size_t);
int		 tls_set_session(struct tls *, const unsigned char *,
		    size_t);

#endif
