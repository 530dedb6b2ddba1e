/*
 * The TLS audit of smtpauth check, what testssl.sh does for SMTP: which
 * protocol versions the server accepts, which cipher suites (the weak
 * ones named) and in whose order, the finite-field DH group, the
 * certificate's key and signatures, whether the chain sent is complete,
 * and OCSP stapling.
 *
 * Every answer comes from probing connections of its own, one after the
 * other with the run's timeout: up to STARTTLS (or straight into implicit
 * TLS), one handshake offering exactly one version and a chosen list of
 * suites at OpenSSL security level 0, then QUIT.  No credential is ever
 * sent on one, and no mail.  Suites are enumerated as testssl.sh does:
 * offer the list, note the suite the server picks, take it off the list,
 * again until the server refuses; the weak classes first, so that the
 * connection budget (AUDIT_MAX_CONN) can only cut the list of the strong
 * ones short.  What this OpenSSL cannot offer (SSLv3, RC4, DES, 3DES,
 * export in OpenSSL 3) is asked with a ClientHello of our own
 * (client/tlshello.c), as testssl.sh does in its sockets mode: written
 * after STARTTLS, the server's first answer read and the connection
 * closed, the handshake never completed.  An answer that is neither a
 * ServerHello with what was offered nor a refusal is said to be a
 * protocol violation, never taken for an acceptance.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "client/check_priv.h"
#include "client/cliopt.h"
#include "client/report.h"
#include "client/smtpclient.h"
#include "client/tlshello.h"
#include "common/clock.h"
#include "common/reply.h"
#include "common/tls.h"

/*
 * Connections the audit may open to one port, all probes included: 40
 * for OpenSSL's handshakes as before, and the two raw ClientHellos a
 * server that refuses SSLv3 and the weak suites costs (up to five for one
 * that takes every weak class: then the list of strong suites is cut).
 */
#define AUDIT_MAX_CONN		42
#define AUDIT_MAX_SUITES	192	/* candidates of one version */
#define SUITE_LIST_MAX		(AUDIT_MAX_SUITES * 48)
#define MIN_RSA_BITS		2048
#define MIN_EC_BITS		256
#define MIN_DH_BITS		2048

/* Every suite this OpenSSL has that needs no pre-shared key or SRP. */
#define ALL_SUITES	"ALL:COMPLEMENTOFALL:!PSK:!SRP:!aGOST:@SECLEVEL=0"
#define TLS13_SUITES	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:" \
			"TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:" \
			"TLS_AES_128_CCM_8_SHA256"

/* The versions, newest first: the first one accepted shows the certificate. */
static const struct audit_version {
	const char	*name;
	int		 v;
	int		 legacy;	/* accepted: a failure */
} versions[] = {
	{ "TLSv1.3", TLS1_3_VERSION, 0 },
	{ "TLSv1.2", TLS1_2_VERSION, 0 },
	{ "TLSv1.1", TLS1_1_VERSION, 1 },
	{ "TLSv1.0", TLS1_VERSION, 1 },
#ifndef OPENSSL_NO_SSL3
	{ "SSLv3", SSL3_VERSION, 1 },
#endif
};
#define NVERSIONS	(sizeof(versions) / sizeof(versions[0]))

enum { ACC_UNKNOWN = 0, ACC_NO, ACC_YES };
enum { ORDER_UNKNOWN = 0, ORDER_SERVER, ORDER_CLIENT };

struct vstate {
	int			 accepted;	/* ACC_* */
	const SSL_CIPHER	*cand[AUDIT_MAX_SUITES];
	size_t			 ncand;
	unsigned char		 taken[AUDIT_MAX_SUITES]; /* accepted */
	const SSL_CIPHER	*acc[AUDIT_MAX_SUITES];	/* in found order */
	size_t			 nacc;
	unsigned int		 weak_seen;	/* 1 << W_*: a suite accepted */
	int			 weak_done;	/* every weak class probed */
	int			 complete;	/* the server refused the rest */
	int			 order;		/* ORDER_* */
};

/*
 * The raw ClientHellos: SSLv3 in one, then the weak classes this OpenSSL
 * lacks, all on offer, one class less after each ServerHello, until the
 * server refuses.
 */
#define RAW_ACC_MAX	8
struct rawstate {
	int		 sslv3;		/* 1: SSLv3 asked raw */
	int		 sslv3_acc;	/* ACC_* */
	uint16_t	 sslv3_suite;	/* the suite the server chose */
	char		 sslv3_why[200]; /* ACC_UNKNOWN: why */
	unsigned int	 classes;	/* 1 << W_*: the classes asked raw */
	unsigned int	 seen;		/* 1 << W_*: accepted */
	unsigned int	 refused;	/* 1 << W_*: refused */
	char		 why[200];	/* the others: why not known */
	struct {
		uint16_t	 suite, version;
	}		 acc[RAW_ACC_MAX];
	size_t		 nacc;
};

struct audit {
	struct checker	*ck;
	int		 nconn;
	int		 broken;	/* a probe could not reach the handshake */
	char		 err[256];	/* why */
	struct vstate	 vs[NVERSIONS];
	int		 cert_done;	/* key, chain and OCSP judged */
	int		 dh_bits;	/* smallest finite-field group seen */
	char		 dh_suite[64];
	char		 groups[160];	/* other key exchange groups seen */
	struct rawstate	 raw;
};

/* A summary under construction: appends that never overflow. */
struct sbuf {
	char	*b;
	size_t	 size, len;
};

static void	sb_init(struct sbuf *, char *, size_t);
static void	sb_add(struct sbuf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	candidates(struct vstate *, int);
static int	weak_class(const SSL_CIPHER *, int);
static int	probe(struct audit *, size_t, const char *,
		    const SSL_CIPHER **);
static int	cant_probe(struct audit *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	probe_conn(struct audit *, struct smtpc *, struct tls_ctx *);
static int	to_handshake(struct audit *, struct smtpc *);
static int	raw_class(uint16_t, uint16_t);
static int	raw_probe(struct audit *, const struct tlshello_offer *,
		    const char *, struct tlshello_answer *, char *, size_t);
static int	raw_read(struct smtpc *, int, const struct tlshello_offer *,
		    struct tlshello_answer *, char *, size_t);
static void	raw_take(struct rawstate *, uint16_t, uint16_t);
static void	raw_run(struct audit *, int);
static void	raw_plan(struct audit *);
static void	class_list(unsigned int, struct sbuf *);
static void	note_kx(struct audit *, SSL *);
static void	judge_cert(struct audit *, SSL *, SSL_CTX *);
static void	judge_key(struct audit *, X509 *, STACK_OF(X509) *);
static int	ca_issuers(X509 *, char *, size_t);
static void	judge_chain(struct audit *, X509 *, STACK_OF(X509) *,
		    X509_STORE *);
static void	judge_ocsp(struct audit *, SSL *);
static int	offer_list(struct vstate *, int, int, char *, size_t);
static int	take(struct vstate *, int, const SSL_CIPHER *);
static void	enumerate(struct audit *, size_t, int, int);
static void	order_probe(struct audit *, size_t);
static void	dh_probe(struct audit *);
static int	mx_lenient(struct audit *, struct sbuf *);
static void	verdict_protocols(struct audit *);
static void	weak_summary(struct audit *, int, struct sbuf *);
static void	verdict_ciphers(struct audit *);
static void	verdict_dh(struct audit *);
static void	skip_all(struct checker *, const char *);

static void
sb_init(struct sbuf *sb, char *b, size_t size)
{
	sb->b = b;
	sb->size = size;
	sb->len = 0;
	b[0] = '\0';
}

static void
sb_add(struct sbuf *sb, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (sb->len + 1 >= sb->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->b + sb->len, sb->size - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		sb->b[sb->len] = '\0';
	else if ((size_t)n >= sb->size - sb->len)
		sb->len = sb->size - 1;
	else
		sb->len += (size_t)n;
}

static void
skip_all(struct checker *ck, const char *why)
{
	int	id;

	for (id = C_TLS_PROTOCOLS; id <= C_TLS_OCSP; id++)
		ck_set(ck, id, CHECK_SKIP, "%s", why);
}

/*
 * The suites this OpenSSL can offer at version v, strongest first (its
 * own order).  0, or -1 when it has none to offer.
 */
static int
candidates(struct vstate *vs, int v)
{
	STACK_OF(SSL_CIPHER)	*sk;
	const SSL_CIPHER	*c;
	const char		*cv;
	SSL_CTX			*sc;
	int			 i, kx, au;

	if ((sc = SSL_CTX_new(TLS_client_method())) == NULL)
		return -1;
	SSL_CTX_set_security_level(sc, 0);
	if (SSL_CTX_set_cipher_list(sc, ALL_SUITES) != 1 ||
	    SSL_CTX_set_ciphersuites(sc, TLS13_SUITES) != 1 ||
	    (sk = SSL_CTX_get_ciphers(sc)) == NULL) {
		SSL_CTX_free(sc);
		ERR_clear_error();
		return -1;
	}
	vs->ncand = 0;
	for (i = 0; i < sk_SSL_CIPHER_num(sk) &&
	    vs->ncand < AUDIT_MAX_SUITES; i++) {
		c = sk_SSL_CIPHER_value(sk, i);
		cv = SSL_CIPHER_get_version(c);
		if ((v == TLS1_3_VERSION) != (strcmp(cv, "TLSv1.3") == 0))
			continue;
		if (v < TLS1_2_VERSION && strcmp(cv, "TLSv1.2") == 0)
			continue;
		kx = SSL_CIPHER_get_kx_nid(c);
		au = SSL_CIPHER_get_auth_nid(c);
		if (kx == NID_kx_psk || kx == NID_kx_rsa_psk ||
		    kx == NID_kx_dhe_psk || kx == NID_kx_ecdhe_psk ||
		    kx == NID_kx_srp || kx == NID_kx_gost ||
		    kx == NID_kx_gost18 || au == NID_auth_psk ||
		    au == NID_auth_srp || au == NID_auth_gost01 ||
		    au == NID_auth_gost12)
			continue;
		/* Static tables of libssl: the pointers outlive sc. */
		vs->cand[vs->ncand++] = c;
	}
	SSL_CTX_free(sc);
	return vs->ncand > 0 ? 0 : -1;
}

/*
 * The weak classes.  All but the last fail: no encryption, no
 * authentication (anyone in the path can be the server), export
 * strength, RC4, DES and 3DES (Sweet32); CBC with SHA-1 under TLS 1.0 is
 * the BEAST class, a warning.
 */
enum { W_NULL, W_ANON, W_EXPORT, W_RC4, W_DES, W_3DES, W_BEAST, W_COUNT };
static const char *const weak_names[W_COUNT] = {
	[W_NULL] = "NULL",
	[W_ANON] = "anonymous",
	[W_EXPORT] = "export",
	[W_RC4] = "RC4",
	[W_DES] = "DES",
	[W_3DES] = "3DES",
	[W_BEAST] = "CBC-SHA1 (BEAST)",
};

/* The weak class of a suite at version v (W_*), or -1. */
static int
weak_class(const SSL_CIPHER *c, int v)
{
	const char	*name = SSL_CIPHER_get_name(c);
	int		 nid = SSL_CIPHER_get_cipher_nid(c);

	if (nid == NID_undef)
		return W_NULL;
	if (SSL_CIPHER_get_auth_nid(c) == NID_auth_null)
		return W_ANON;
	if (strstr(name, "EXP") != NULL)
		return W_EXPORT;
	if (nid == NID_rc4 || nid == NID_rc4_40)
		return W_RC4;
	if (nid == NID_des_cbc)
		return W_DES;
	if (nid == NID_des_ede3_cbc)
		return W_3DES;
	if (v <= TLS1_VERSION && !SSL_CIPHER_is_aead(c) &&
	    SSL_CIPHER_get_digest_nid(c) == NID_sha1)
		return W_BEAST;
	return -1;
}

/*
 * One probing connection at version versions[vi] offering suites (a
 * cipher list below TLS 1.3, ciphersuites at 1.3).  1: the handshake
 * completed, and *chosen is the suite the server picked; 0: the server
 * refused the handshake; -1: the probe could not get that far (the reason
 * in a->err, and the audit stops: a->broken).
 */
static int
probe(struct audit *a, size_t vi, const char *suites,
    const SSL_CIPHER **chosen)
{
	struct checker		*ck = a->ck;
	struct smtpc_opts	 so;
	struct tls_ctx		*ctx;
	struct smtpc		*c;
	SSL_CTX			*sc;
	SSL			*ssl;
	const SSL_CIPHER	*got;
	int			 v = versions[vi].v, rv;

	*chosen = NULL;
	if (a->broken)
		return -1;
	if (a->nconn >= AUDIT_MAX_CONN)
		return cant_probe(a, "the budget of %d connections is spent",
		    AUDIT_MAX_CONN);
	if ((ctx = tls_client_new(ck->o.ca_file, 1, v, v, a->err,
	    sizeof(a->err))) == NULL) {
		a->broken = 1;
		return -1;
	}
	sc = tls_ctx_openssl(ctx);
	if ((v == TLS1_3_VERSION ? SSL_CTX_set_ciphersuites(sc, suites) :
	    SSL_CTX_set_cipher_list(sc, suites)) != 1) {
		/* The names came from this OpenSSL: it should know them. */
		ERR_clear_error();
		tls_ctx_free(ctx);
		return cant_probe(a, "this OpenSSL refuses to offer %.60s",
		    suites);
	}
	/* After the cipher list: its @SECLEVEL must not raise it again. */
	SSL_CTX_set_security_level(sc, 0);
	/* Old servers lack RFC 5746; they can still be probed. */
	SSL_CTX_set_options(sc, SSL_OP_LEGACY_SERVER_CONNECT);
	SSL_CTX_set_tlsext_status_type(sc, TLSEXT_STATUSTYPE_ocsp);

	a->nconn++;
	ck_smtpc_opts(ck, &so);
	if ((c = smtpc_connect(ck->o.host, ck->o.port, &so, a->err,
	    sizeof(a->err))) == NULL) {
		a->broken = 1;
		tls_ctx_free(ctx);
		return -1;
	}
	if (ck->o.verbose)
		smtpc_trace(c, SMTPC_INFO, "tls audit: probe %d, %s, %s",
		    a->nconn, versions[vi].name, suites);
	if ((rv = probe_conn(a, c, ctx)) == 1) {
		ssl = tls_conn_openssl(smtpc_tls_conn(c));
		if ((got = SSL_get_current_cipher(ssl)) == NULL)
			rv = 0;
		else {
			*chosen = got;
			note_kx(a, ssl);
			if (!a->cert_done)
				judge_cert(a, ssl, sc);
		}
	}
	smtpc_close(c);
	tls_ctx_free(ctx);
	return rv;
}

/* The probe could not get to the handshake: the audit stops.  -1. */
static int
cant_probe(struct audit *a, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	a->broken = 1;
	return -1;
}

/*
 * Up to the handshake on c, the handshake, and QUIT after it: 1, 0 (the
 * handshake failed) or -1 (a->err, a->broken: no handshake to try).
 */
static int
probe_conn(struct audit *a, struct smtpc *c, struct tls_ctx *ctx)
{
	const struct reply	*r = NULL;

	if (to_handshake(a, c) == -1)
		return -1;
	if (smtpc_tls(c, ctx, a->ck->o.host) == -1)
		return 0;
	/* The greeting comes first under implicit TLS; any reply will do. */
	(void)smtpc_cmd(c, &r, "QUIT");
	return 1;
}

/*
 * Greeting, EHLO and STARTTLS with its 220 (nothing under implicit TLS):
 * 0, or -1 (a->err, a->broken).
 */
static int
to_handshake(struct audit *a, struct smtpc *c)
{
	struct checker		*ck = a->ck;
	const struct reply	*r = NULL;
	char			 b[200];

	if (ck->o.tls != TLSMODE_IMPLICIT) {
		if (smtpc_read_reply(c, &r) == -1)
			return cant_probe(a, "%s", smtpc_error(c));
		/* A 421 here: a limit on connections, or a ban. */
		if (r->code != 220)
			return cant_probe(a, "greeting %s", ck_brief(r, b,
			    sizeof(b)));
		if (smtpc_cmd(c, &r, "EHLO %s", ck->helo) == -1)
			return cant_probe(a, "%s", smtpc_error(c));
		if (r->code != 250)
			return cant_probe(a, "EHLO: %s", ck_brief(r, b,
			    sizeof(b)));
		if (smtpc_cmd(c, &r, "STARTTLS") == -1)
			return cant_probe(a, "no reply to STARTTLS: %s",
			    smtpc_error(c));
		if (r->code != 220)
			return cant_probe(a, "STARTTLS: %s", ck_brief(r, b,
			    sizeof(b)));
	}
	return 0;
}

/* The weak class (W_*) of a raw suite chosen at version v, or -1. */
static int
raw_class(uint16_t suite, uint16_t v)
{
	const struct tlshello_suite	*t;

	if ((t = tlshello_suite(suite)) == NULL)
		return -1;
	switch (t->cls) {
	case TLSHELLO_EXPORT:
		return W_EXPORT;
	case TLSHELLO_RC4:
		return W_RC4;
	case TLSHELLO_DES:
		return W_DES;
	case TLSHELLO_3DES:
		return W_3DES;
	default:
		/* The others of the table are all CBC with SHA-1. */
		return v <= TLSHELLO_TLS10 ? W_BEAST : -1;
	}
}

/*
 * One connection up to the handshake, the ClientHello of o written, the
 * answer read: ACC_YES (*ans the ServerHello), ACC_NO (an alert, or the
 * connection closed), ACC_UNKNOWN (why: a protocol violation, a cut
 * answer, none in time), or -1 (no probe: a->err, a->broken).
 */
static int
raw_probe(struct audit *a, const struct tlshello_offer *o, const char *what,
    struct tlshello_answer *ans, char *why, size_t whylen)
{
	struct checker		*ck = a->ck;
	struct smtpc_opts	 so;
	struct smtpc		*c;
	uint8_t			 hello[TLSHELLO_MAX];
	size_t			 hlen;
	int			 rv;

	memset(ans, 0, sizeof(*ans));
	why[0] = '\0';
	if (a->broken)
		return -1;
	if (a->nconn >= AUDIT_MAX_CONN)
		return cant_probe(a, "the budget of %d connections is spent",
		    AUDIT_MAX_CONN);
	if (tlshello_build(o, hello, sizeof(hello), &hlen) == -1)
		return cant_probe(a, "no ClientHello for %s", what);
	a->nconn++;
	ck_smtpc_opts(ck, &so);
	if ((c = smtpc_connect(ck->o.host, ck->o.port, &so, a->err,
	    sizeof(a->err))) == NULL) {
		a->broken = 1;
		return -1;
	}
	if (ck->o.verbose)
		smtpc_trace(c, SMTPC_INFO, "tls audit: probe %d, raw "
		    "ClientHello %s, %s (%zu suites)", a->nconn,
		    tlshello_version_name(o->version), what, o->nsuites);
	if (to_handshake(a, c) == -1) {
		smtpc_close(c);
		return -1;
	}
	if (smtpc_pending(c) > 0) {
		(void)snprintf(why, whylen, "%zu octets in clear after the "
		    "220 to STARTTLS, before the handshake", smtpc_pending(c));
		rv = ACC_UNKNOWN;
	} else if (smtpc_write(c, hello, hlen) == -1) {
		(void)snprintf(why, whylen, "the ClientHello could not be "
		    "sent: %s", smtpc_error(c));
		rv = ACC_UNKNOWN;
	} else
		rv = raw_read(c, so.timeout_ms > 0 ? so.timeout_ms : 30000, o,
		    ans, why, whylen);
	if (ck->o.verbose) {
		if (rv == ACC_YES)
			smtpc_trace(c, SMTPC_INFO, "tls audit: ServerHello "
			    "%s, 0x%04x %s: accepted", tlshello_version_name(
			    ans->version), ans->suite,
			    tlshello_suite(ans->suite)->iana);
		else if (rv == ACC_NO && ans->kind == TLSHELLO_ALERT)
			smtpc_trace(c, SMTPC_INFO, "tls audit: alert %u (%s): "
			    "refused", ans->desc, tlshello_alert_name(
			    ans->desc) ? tlshello_alert_name(ans->desc) : "?");
		else if (rv == ACC_NO)
			smtpc_trace(c, SMTPC_INFO, "tls audit: the server "
			    "closed the connection: refused");
		else
			smtpc_trace(c, SMTPC_INFO, "tls audit: %s", why);
	}
	/* Never further: no alert of ours, the connection just closes. */
	smtpc_close(c);
	return rv;
}

/*
 * The server's answer to the ClientHello, bounded in size and time:
 * ACC_YES, ACC_NO or ACC_UNKNOWN as raw_probe().
 */
static int
raw_read(struct smtpc *c, int timeout_ms, const struct tlshello_offer *o,
    struct tlshello_answer *ans, char *why, size_t whylen)
{
	struct pollfd	 pfd;
	uint8_t		*buf;
	size_t		 got = 0;
	int64_t		 deadline, left;
	ssize_t		 n;
	int		 rv = ACC_UNKNOWN, k;

	if ((buf = malloc(TLSHELLO_ANSWER_MAX)) == NULL) {
		(void)snprintf(why, whylen, "out of memory");
		return ACC_UNKNOWN;
	}
	deadline = mono_msec() + timeout_ms;
	for (;;) {
		if (got == TLSHELLO_ANSWER_MAX) {
			(void)snprintf(why, whylen, "no ServerHello in the "
			    "first %d octets", TLSHELLO_ANSWER_MAX);
			break;
		}
		if ((left = deadline - mono_msec()) <= 0) {
			(void)snprintf(why, whylen, "no answer within %d ms "
			    "(%zu octets)", timeout_ms, got);
			break;
		}
		pfd.fd = smtpc_fd(c);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if ((n = poll(&pfd, 1, (int)left)) == -1) {
			if (errno == EINTR)
				continue;
			(void)snprintf(why, whylen, "poll: %s",
			    strerror(errno));
			break;
		}
		if (n == 0)
			continue;
		n = read(pfd.fd, buf + got, TLSHELLO_ANSWER_MAX - got);
		if (n == -1 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;
		if ((n == 0 || (n == -1 && errno == ECONNRESET)) && got == 0) {
			rv = ACC_NO;	/* a close is a refusal */
			break;
		}
		if (n == 0) {
			(void)snprintf(why, whylen, "the connection closed "
			    "after %zu octets, in the middle of a record", got);
			break;
		}
		if (n == -1) {
			(void)snprintf(why, whylen, "read: %s",
			    strerror(errno));
			break;
		}
		got += (size_t)n;
		if ((k = tlshello_parse(o, buf, got, ans)) == TLSHELLO_MORE)
			continue;
		if (k == TLSHELLO_HELLO)
			rv = ACC_YES;
		else if (k == TLSHELLO_ALERT)
			rv = ACC_NO;
		else
			(void)snprintf(why, whylen, "protocol violation: %s",
			    ans->why);
		break;
	}
	free(buf);
	return rv;
}

/* A weak suite the server chose, once. */
static void
raw_take(struct rawstate *r, uint16_t suite, uint16_t v)
{
	size_t	i;
	int	w;

	if ((w = raw_class(suite, v)) >= 0)
		r->seen |= 1u << w;
	if (w < 0)
		return;
	for (i = 0; i < r->nacc; i++)
		if (r->acc[i].suite == suite && r->acc[i].version == v)
			return;
	if (r->nacc < RAW_ACC_MAX) {
		r->acc[r->nacc].suite = suite;
		r->acc[r->nacc].version = v;
		r->nacc++;
	}
}

/*
 * What the raw ClientHellos ask: SSLv3 when this OpenSSL cannot, and the
 * weak classes it has no suite of at any version.
 */
static void
raw_plan(struct audit *a)
{
	struct rawstate	*r = &a->raw;
	size_t		 vi, i;
	unsigned int	 have = 0;
	int		 w;

	r->sslv3 = 1;
	for (vi = 0; vi < NVERSIONS; vi++) {
		if (versions[vi].v == SSL3_VERSION)
			r->sslv3 = 0;
		for (i = 0; i < a->vs[vi].ncand; i++)
			if ((w = weak_class(a->vs[vi].cand[i],
			    TLS1_2_VERSION)) >= 0)
				have |= 1u << w;
	}
	r->classes = ((1u << W_EXPORT) | (1u << W_RC4) | (1u << W_DES) |
	    (1u << W_3DES)) & ~have;
}

/* The raw ClientHellos, within the first `limit' connections. */
static void
raw_run(struct audit *a, int limit)
{
	struct rawstate		*r = &a->raw;
	struct tlshello_offer	 o;
	struct tlshello_answer	 ans;
	struct in6_addr		 in6;
	struct in_addr		 in4;
	uint16_t		 suites[TLSHELLO_SUITES_MAX];
	char			 host[256], what[100];
	struct sbuf		 wb;
	size_t			 i, n;
	unsigned int		 left;
	int			 rv, w;

	memset(&o, 0, sizeof(o));
	o.suites = suites;
	if (r->sslv3 && !a->broken && a->nconn < limit) {
		for (i = 0; i < tlshello_nsuites && i < TLSHELLO_SUITES_MAX;
		    i++)
			suites[i] = tlshello_suites[i].code;
		o.nsuites = i;
		o.version = TLSHELLO_SSL3;
		arc4random_buf(o.random, sizeof(o.random));
		rv = raw_probe(a, &o, "the weak suites and the CBC ones of "
		    "its time", &ans, r->sslv3_why, sizeof(r->sslv3_why));
		if (rv == ACC_YES) {
			r->sslv3_acc = ACC_YES;
			r->sslv3_suite = ans.suite;
			raw_take(r, ans.suite, ans.version);
		} else if (rv == ACC_NO)
			r->sslv3_acc = ACC_NO;
	}

	/* SNI is a DNS name, never an address (RFC 6066). */
	(void)snprintf(host, sizeof(host), "%s", a->ck->o.host);
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	o.version = TLSHELLO_TLS12;
	o.extensions = 1;
	o.servername = host[0] == '\0' || strlen(host) > 255 ||
	    inet_pton(AF_INET, host, &in4) == 1 ||
	    inet_pton(AF_INET6, host, &in6) == 1 ? NULL : host;
	left = r->classes & ~r->seen;
	while (left != 0 && !a->broken && a->nconn < limit) {
		for (i = 0, n = 0; i < tlshello_nsuites &&
		    n < TLSHELLO_SUITES_MAX; i++) {
			w = raw_class(tlshello_suites[i].code, TLSHELLO_TLS12);
			if (w >= 0 && (left & (1u << w)))
				suites[n++] = tlshello_suites[i].code;
		}
		o.nsuites = n;
		sb_init(&wb, what, sizeof(what));
		class_list(left, &wb);
		arc4random_buf(o.random, sizeof(o.random));
		rv = raw_probe(a, &o, what, &ans, r->why, sizeof(r->why));
		if (rv == ACC_YES) {
			raw_take(r, ans.suite, ans.version);
			w = raw_class(ans.suite, ans.version);
			/* Offered, so of a class in left (tlshello_parse). */
			left &= w >= 0 ? ~(1u << w) : 0;
		} else {
			if (rv == ACC_NO)
				r->refused |= left;
			break;
		}
	}
}

/* The names of the classes in mask, joined with ", ". */
static void
class_list(unsigned int mask, struct sbuf *sb)
{
	int	w, n = 0;

	for (w = 0; w < W_COUNT; w++)
		if (mask & (1u << w))
			sb_add(sb, "%s%s", n++ > 0 ? ", " : "", weak_names[w]);
}

/* The key exchange's group: the smallest finite-field one is judged. */
static void
note_kx(struct audit *a, SSL *ssl)
{
	EVP_PKEY	*pk = NULL;
	const char	*name = NULL;
	char		 gname[64];
	size_t		 glen;
	int		 bits, nid;

	if (SSL_get_peer_tmp_key(ssl, &pk) != 1 || pk == NULL) {
		ERR_clear_error();
		return;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_DH) {
		bits = EVP_PKEY_get_bits(pk);
		if (a->dh_bits == 0 || bits < a->dh_bits) {
			a->dh_bits = bits;
			(void)snprintf(a->dh_suite, sizeof(a->dh_suite), "%s",
			    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
		}
	} else {
		nid = SSL_get_negotiated_group(ssl);
		if (nid > 0)
			name = SSL_group_to_name(ssl, nid);
		if (name == NULL && EVP_PKEY_get_group_name(pk, gname,
		    sizeof(gname), &glen) == 1)
			name = gname;
		if (name == NULL)
			name = EVP_PKEY_get0_type_name(pk);
		if (name != NULL && strstr(a->groups, name) == NULL &&
		    strlen(a->groups) + strlen(name) + 3 < sizeof(a->groups))
			(void)snprintf(a->groups + strlen(a->groups),
			    sizeof(a->groups) - strlen(a->groups), "%s%s",
			    a->groups[0] ? ", " : "", name);
	}
	EVP_PKEY_free(pk);
	ERR_clear_error();
}

/* The first handshake that completes shows the certificate and OCSP. */
static void
judge_cert(struct audit *a, SSL *ssl, SSL_CTX *sc)
{
	X509		*leaf;
	STACK_OF(X509)	*chain;

	a->cert_done = 1;
	if ((leaf = SSL_get0_peer_certificate(ssl)) == NULL) {
		ck_set(a->ck, C_TLS_KEY, CHECK_FAIL, "the server sent no "
		    "certificate (%s)", SSL_CIPHER_get_name(
		    SSL_get_current_cipher(ssl)));
		ck_set(a->ck, C_TLS_CHAIN, CHECK_FAIL, "no certificate sent");
		judge_ocsp(a, ssl);
		return;
	}
	/* On the client side the chain starts with the leaf. */
	chain = SSL_get_peer_cert_chain(ssl);
	judge_key(a, leaf, chain);
	judge_chain(a, leaf, chain, SSL_CTX_get_cert_store(sc));
	judge_ocsp(a, ssl);
}

/*
 * The leaf's key, and the signature on every certificate sent but a
 * self-signed one (a root's own signature protects nothing).
 */
static void
judge_key(struct audit *a, X509 *leaf, STACK_OF(X509) *chain)
{
	EVP_PKEY	*pk;
	X509		*x;
	struct sbuf	 sb;
	char		 buf[REPORT_SUMMARY_MAX], gname[64];
	const char	*what, *sig;
	size_t		 glen;
	int		 bits, id, st = CHECK_PASS, i, n, md, pkn, bad = 0;

	sb_init(&sb, buf, sizeof(buf));
	if ((pk = X509_get0_pubkey(leaf)) == NULL) {
		ck_set(a->ck, C_TLS_KEY, CHECK_FAIL, "the certificate's key "
		    "cannot be read");
		ERR_clear_error();
		return;
	}
	bits = EVP_PKEY_get_bits(pk);
	switch ((id = EVP_PKEY_get_base_id(pk))) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		sb_add(&sb, "RSA %d bits", bits);
		if (bits < MIN_RSA_BITS) {
			st = CHECK_FAIL;
			sb_add(&sb, " (under %d)", MIN_RSA_BITS);
		}
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, gname, sizeof(gname),
		    &glen) != 1)
			(void)snprintf(gname, sizeof(gname), "?");
		sb_add(&sb, "EC %s, %d bits", gname, bits);
		if (bits < MIN_EC_BITS) {
			st = CHECK_FAIL;
			sb_add(&sb, " (under %d)", MIN_EC_BITS);
		}
		break;
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		sb_add(&sb, "%s", id == EVP_PKEY_ED25519 ? "Ed25519" :
		    "Ed448");
		break;
	case EVP_PKEY_DSA:
		sb_add(&sb, "DSA %d bits (obsolete, no TLS 1.3)", bits);
		st = bits < MIN_RSA_BITS ? CHECK_FAIL : CHECK_WARN;
		break;
	default:
		what = EVP_PKEY_get0_type_name(pk);
		sb_add(&sb, "%s key, %d bits (not judged)", what != NULL ?
		    what : "unknown", bits);
		st = CHECK_WARN;
		break;
	}
	n = chain != NULL ? sk_X509_num(chain) : 0;
	for (i = -1; i < n; i++) {
		x = i < 0 ? leaf : sk_X509_value(chain, i);
		if (i >= 0 && X509_cmp(x, leaf) == 0)
			continue;
		if (i >= 0 && (X509_get_extension_flags(x) & EXFLAG_SS))
			continue;
		sig = OBJ_nid2ln(X509_get_signature_nid(x));
		if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &md,
		    &pkn))
			md = NID_undef;
		if (md == NID_sha1 || md == NID_md5 || md == NID_md4 ||
		    md == NID_md2 || md == NID_md5_sha1) {
			st = CHECK_FAIL;
			bad++;
			sb_add(&sb, "; %s signed with %s (broken hash)", i < 0 ?
			    "the certificate is" : "an intermediate is",
			    sig != NULL ? sig : "?");
		} else if (i < 0)
			sb_add(&sb, ", signed %s", sig != NULL ? sig : "?");
	}
	if (bad == 0 && n > 1)
		sb_add(&sb, "; the intermediates' signatures are sound");
	ck_set(a->ck, C_TLS_KEY, st, "%s", buf);
	ERR_clear_error();
}

/*
 * Where the certificate says its issuer's certificate is published (AIA
 * caIssuers): 1 with the first URI in url, else 0.  A CA that publishes
 * it is a public one, whose certificate a client needs to be sent.
 */
static int
ca_issuers(X509 *x, char *url, size_t size)
{
	AUTHORITY_INFO_ACCESS	*aia;
	ACCESS_DESCRIPTION	*ad;
	ASN1_IA5STRING		*uri;
	const unsigned char	*u;
	char			 esc[200];
	int			 i, found = 0, len;

	if ((aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	for (i = 0; i < sk_ACCESS_DESCRIPTION_num(aia) && !found; i++) {
		ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers ||
		    ad->location->type != GEN_URI)
			continue;
		uri = ad->location->d.uniformResourceIdentifier;
		u = ASN1_STRING_get0_data(uri);
		len = ASN1_STRING_length(uri);
		if (u == NULL || len <= 0)
			continue;
		/* The server chose these bytes. */
		(void)snprintf(url, size, "%s", report_escape((const char *)u,
		    (size_t)len, esc, sizeof(esc)));
		found = 1;
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	return found;
}

/*
 * Is the chain sent enough to reach a trust anchor of the CA store
 * (--ca-file, else the system's)?  OpenSSL never fetches a missing
 * intermediate (no AIA), so verifying with only the certificates sent
 * answers it; time is not checked here (tls-cert judges expiry, and the
 * host name).
 */
static void
judge_chain(struct audit *a, X509 *leaf, STACK_OF(X509) *chain,
    X509_STORE *store)
{
	X509_STORE_CTX	*xs;
	X509		*at;
	char		 raw[256], subj[256], iss[256], url[200];
	int		 ok, e, depth, n;

	url[0] = '\0';
	n = chain != NULL ? sk_X509_num(chain) : 1;
	if ((xs = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(xs, store, leaf, chain) != 1) {
		X509_STORE_CTX_free(xs);
		ERR_clear_error();
		ck_set(a->ck, C_TLS_CHAIN, CHECK_WARN, "the chain cannot be "
		    "checked here (out of memory)");
		return;
	}
	X509_STORE_CTX_set_flags(xs, X509_V_FLAG_NO_CHECK_TIME);
	ok = X509_verify_cert(xs) == 1;
	e = X509_STORE_CTX_get_error(xs);
	depth = X509_STORE_CTX_get_error_depth(xs);
	at = X509_STORE_CTX_get_current_cert(xs);
	subj[0] = iss[0] = '\0';
	if (at != NULL) {
		/* The server chose these bytes: escaped for the summary. */
		(void)X509_NAME_oneline(X509_get_subject_name(at), raw,
		    sizeof(raw));
		(void)report_escape(raw, strlen(raw), subj, sizeof(subj));
		(void)X509_NAME_oneline(X509_get_issuer_name(at), raw,
		    sizeof(raw));
		(void)report_escape(raw, strlen(raw), iss, sizeof(iss));
	}
	if (ok)
		ck_set(a->ck, C_TLS_CHAIN, CHECK_PASS, "complete: %d "
		    "certificate%s sent, a path of %d to a trust anchor",
		    n, n == 1 ? "" : "s",
		    sk_X509_num(X509_STORE_CTX_get0_chain(xs)));
	else if ((e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) && depth == 0 &&
	    (a->ck->o.ca_file != NULL || ca_issuers(leaf, url, sizeof(url))))
		ck_set(a->ck, C_TLS_CHAIN, CHECK_FAIL, "intermediate missing: "
		    "the issuer of the certificate (%s%s%s) was not sent and "
		    "is not in the CA store (%d certificate%s sent; mail "
		    "clients do not fetch it)", iss, url[0] ? ", published "
		    "at " : "", url, n, n == 1 ? "" : "s");
	else if ((e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) && depth == 0)
		ck_set(a->ck, C_TLS_CHAIN, CHECK_WARN, "the issuer of the "
		    "certificate (%s) was not sent and is not in the system's "
		    "CA store: an intermediate missing, or a private CA (give "
		    "it with --ca-file)", iss);
	else if (e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT)
		ck_set(a->ck, C_TLS_CHAIN, CHECK_WARN, "the chain sent ends at "
		    "%s, whose issuer %s is not in the CA store: a root not "
		    "trusted here, or an intermediate missing", subj, iss);
	else if (e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
		ck_set(a->ck, C_TLS_CHAIN, CHECK_PASS, "a self-signed "
		    "certificate: no chain to complete (trust: tls-cert)");
	else if (e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
		ck_set(a->ck, C_TLS_CHAIN, CHECK_PASS, "complete up to a root "
		    "not trusted here, %s (trust: tls-cert)", subj);
	else
		ck_set(a->ck, C_TLS_CHAIN, CHECK_PASS, "complete: %d "
		    "certificate%s sent (verification: %s, judged by "
		    "tls-cert)", n, n == 1 ? "" : "s",
		    X509_verify_cert_error_string(e));
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
}

/* Stapling is information only; a stapled "revoked" is a warning. */
static void
judge_ocsp(struct audit *a, SSL *ssl)
{
	const unsigned char	*p = NULL;
	OCSP_RESPONSE		*resp;
	OCSP_BASICRESP		*bs;
	OCSP_SINGLERESP		*one;
	long			 len;
	int			 rs, cs, reason;

	len = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
	if (len <= 0 || p == NULL) {
		ck_set(a->ck, C_TLS_OCSP, CHECK_PASS, "no OCSP response "
		    "stapled (asked for one; clients may query the CA "
		    "themselves)");
		return;
	}
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, len)) == NULL) {
		ERR_clear_error();
		ck_set(a->ck, C_TLS_OCSP, CHECK_WARN, "an OCSP response of %ld "
		    "octets was stapled, but it does not parse", len);
		return;
	}
	rs = OCSP_response_status(resp);
	if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (bs = OCSP_response_get1_basic(resp)) == NULL) {
		ck_set(a->ck, C_TLS_OCSP, CHECK_WARN, "an OCSP response was "
		    "stapled: %s", OCSP_response_status_str(rs));
		OCSP_RESPONSE_free(resp);
		ERR_clear_error();
		return;
	}
	if ((one = OCSP_resp_get0(bs, 0)) == NULL)
		ck_set(a->ck, C_TLS_OCSP, CHECK_WARN, "an OCSP response was "
		    "stapled, with no certificate status in it");
	else {
		cs = OCSP_single_get0_status(one, &reason, NULL, NULL, NULL);
		ck_set(a->ck, C_TLS_OCSP, cs == V_OCSP_CERTSTATUS_REVOKED ?
		    CHECK_WARN : CHECK_PASS, "stapled: an OCSP response, "
		    "certificate status %s (its signature not checked here)",
		    OCSP_cert_status_str(cs));
	}
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
}

/*
 * The suites still to offer at a version, joined with ':' into buf:
 * those not taken yet; which 1: only the weak ones of a class not seen
 * accepted yet; which 2: only the finite-field DHE ones.  The number of
 * suites.
 */
static int
offer_list(struct vstate *vs, int v, int which, char *buf, size_t size)
{
	struct sbuf	 sb;
	size_t		 i;
	int		 n = 0, w;

	sb_init(&sb, buf, size);
	for (i = 0; i < vs->ncand; i++) {
		if (vs->taken[i])
			continue;
		w = weak_class(vs->cand[i], v);
		if (which == 1 && (w < 0 || (vs->weak_seen & (1u << w))))
			continue;
		if (which == 2 && SSL_CIPHER_get_kx_nid(vs->cand[i]) !=
		    NID_kx_dhe)
			continue;
		if (sb.len + strlen(SSL_CIPHER_get_name(vs->cand[i])) + 2 >=
		    size)
			break;
		sb_add(&sb, "%s%s", n > 0 ? ":" : "",
		    SSL_CIPHER_get_name(vs->cand[i]));
		n++;
	}
	return n;
}

/* The server picked c: off the list to offer, onto the accepted one. */
static int
take(struct vstate *vs, int v, const SSL_CIPHER *c)
{
	size_t	i;
	int	w;

	for (i = 0; i < vs->ncand; i++)
		if (SSL_CIPHER_get_id(vs->cand[i]) == SSL_CIPHER_get_id(c)) {
			if (!vs->taken[i]) {
				vs->taken[i] = 1;
				vs->acc[vs->nacc++] = vs->cand[i];
			}
			if ((w = weak_class(c, v)) >= 0)
				vs->weak_seen |= 1u << w;
			return 0;
		}
	return -1;	/* not offered: OpenSSL would not have gone on */
}

/*
 * Offer, note, take off, again, until the server refuses or the budget
 * (the first `limit' connections) is spent.  weak_only: one suite of
 * each weak class is enough (the class is then offered no more): a
 * verdict at the cost of a connection a class, whatever the budget
 * leaves for the full list.
 */
static void
enumerate(struct audit *a, size_t vi, int weak_only, int limit)
{
	struct vstate		*vs = &a->vs[vi];
	const SSL_CIPHER	*c;
	char			 list[SUITE_LIST_MAX];
	int			 rv;

	for (;;) {
		if (offer_list(vs, versions[vi].v, weak_only, list,
		    sizeof(list)) == 0) {
			if (weak_only)
				vs->weak_done = 1;
			else
				vs->complete = vs->weak_done = 1;
			return;
		}
		if (a->broken || a->nconn >= limit)
			return;
		if ((rv = probe(a, vi, list, &c)) == -1)
			return;
		if (rv == 0) {
			if (weak_only)
				vs->weak_done = 1;
			else
				vs->complete = vs->weak_done = 1;
			return;
		}
		if (take(vs, versions[vi].v, c) == -1)
			return;
	}
}

/*
 * Whose order: the server's first choice x and a suite y found after it
 * (so the server took x with y on offer), offered as y then x.  x again
 * means server order.  y is never a ChaCha20 suite: a server that
 * prioritises ChaCha20 (OpenSSL's SSL_OP_PRIORITIZE_CHACHA) takes it
 * whenever it comes first from the client, in its own order too.
 */
static void
order_probe(struct audit *a, size_t vi)
{
	struct vstate		*vs = &a->vs[vi];
	const SSL_CIPHER	*c, *x, *y = NULL;
	char			 list[200];
	size_t			 i;

	if (vs->nacc < 2)
		return;
	x = vs->acc[0];
	for (i = 1; i < vs->nacc && y == NULL; i++)
		if (SSL_CIPHER_get_cipher_nid(vs->acc[i]) !=
		    NID_chacha20_poly1305)
			y = vs->acc[i];
	if (y == NULL)
		return;
	(void)snprintf(list, sizeof(list), "%s:%s", SSL_CIPHER_get_name(y),
	    SSL_CIPHER_get_name(x));
	if (probe(a, vi, list, &c) != 1)
		return;
	if (SSL_CIPHER_get_id(c) == SSL_CIPHER_get_id(x))
		vs->order = ORDER_SERVER;
	else if (SSL_CIPHER_get_id(c) == SSL_CIPHER_get_id(y))
		vs->order = ORDER_CLIENT;
}

/*
 * No finite-field DHE suite among those found, and the list is not
 * complete: offer only those, once, at the newest version below 1.3.
 */
static void
dh_probe(struct audit *a)
{
	struct vstate		*vs;
	const SSL_CIPHER	*c;
	char			 list[SUITE_LIST_MAX];
	size_t			 vi;

	if (a->dh_bits > 0)
		return;
	for (vi = 1; vi < NVERSIONS; vi++) {
		vs = &a->vs[vi];
		if (vs->accepted != ACC_YES)
			continue;
		if (vs->complete ||
		    offer_list(vs, versions[vi].v, 2, list, sizeof(list)) == 0)
			return;
		if (probe(a, vi, list, &c) == 1)
			(void)take(vs, versions[vi].v, c);
		return;
	}
}

static void
verdict_protocols(struct audit *a)
{
	struct sbuf	 sb;
	char		 buf[REPORT_SUMMARY_MAX], yes[100], no[100], unk[100];
	struct sbuf	 y, n, u;
	size_t		 i;
	int		 legacy = 0, modern = 0, st;

	sb_init(&sb, buf, sizeof(buf));
	sb_init(&y, yes, sizeof(yes));
	sb_init(&n, no, sizeof(no));
	sb_init(&u, unk, sizeof(unk));
	for (i = 0; i < NVERSIONS; i++) {
		struct sbuf *t = a->vs[i].accepted == ACC_YES ? &y :
		    a->vs[i].accepted == ACC_NO ? &n : &u;

		sb_add(t, "%s%s", t->len > 0 ? " " : "", versions[i].name);
		if (a->vs[i].accepted == ACC_YES) {
			if (versions[i].legacy)
				legacy++;
			else
				modern++;
		}
	}
	if (a->raw.sslv3 && a->raw.sslv3_acc != ACC_UNKNOWN) {
		struct sbuf *t = a->raw.sslv3_acc == ACC_YES ? &y : &n;

		sb_add(t, "%sSSLv3", t->len > 0 ? " " : "");
		if (a->raw.sslv3_acc == ACC_YES)
			legacy++;
	}
	if (legacy > 0) {
		st = mx_lenient(a, &sb);
		sb_add(&sb, "accepts %s (TLS 1.0 and older are broken)", yes);
	} else if (modern == 0) {
		st = CHECK_FAIL;
		sb_add(&sb, "accepts neither TLS 1.2 nor TLS 1.3");
	} else if (modern == 1) {
		st = CHECK_WARN;
		sb_add(&sb, "accepts only %s (%s)", yes,
		    a->vs[0].accepted == ACC_YES ? "clients without TLS 1.3 "
		    "cannot connect" : "no TLS 1.3");
	} else {
		st = CHECK_PASS;
		sb_add(&sb, "accepts %s", yes);
	}
	if (no[0] != '\0')
		sb_add(&sb, "; refuses %s", no);
	if (unk[0] != '\0') {
		sb_add(&sb, "; not probed: %s (%s)", unk, a->err[0] != '\0' ?
		    a->err : "no suite for it in this OpenSSL");
		if (st == CHECK_PASS)
			st = CHECK_WARN;
	}
	if (a->raw.sslv3 && a->raw.sslv3_acc == ACC_YES)
		sb_add(&sb, "; SSLv3 found by a raw ClientHello (the server "
		    "chose %s)", tlshello_suite(a->raw.sslv3_suite)->name);
	else if (a->raw.sslv3 && a->raw.sslv3_acc == ACC_NO)
		sb_add(&sb, "; SSLv3 asked by a raw ClientHello");
	else if (a->raw.sslv3) {
		sb_add(&sb, "; SSLv3 not known: %s", a->raw.sslv3_why[0] ?
		    a->raw.sslv3_why : a->err[0] ? a->err :
		    "the connection budget is spent");
		if (st == CHECK_PASS)
			st = CHECK_WARN;
	}
	sb_add(&sb, "; the audit took %d connections", a->nconn);
	ck_set(a->ck, C_TLS_PROTOCOLS, st, "%s", buf);
}

/*
 * Suites of class w accepted at any version, by OpenSSL's handshakes or a
 * raw ClientHello: a few named, the rest counted.
 */
static void
weak_summary(struct audit *a, int w, struct sbuf *sb)
{
	static const uint16_t	 vorder[] = { TLS1_3_VERSION, TLS1_2_VERSION,
	    TLS1_1_VERSION, TLS1_VERSION, SSL3_VERSION };
	const char		*named[2], *nm;
	const struct rawstate	*r = &a->raw;
	unsigned int		 vat = 0;
	char			 vers[64];
	struct sbuf		 vb;
	size_t			 vi, i, k, nnamed = 0, more = 0, n;
	uint16_t		 v;

	n = sizeof(vorder) / sizeof(vorder[0]);
	for (vi = 0; vi < NVERSIONS + r->nacc; vi++) {
		for (i = 0; ; i++) {
			if (vi < NVERSIONS) {
				if (i >= a->vs[vi].nacc)
					break;
				v = (uint16_t)versions[vi].v;
				if (weak_class(a->vs[vi].acc[i], v) != w)
					continue;
				nm = SSL_CIPHER_get_name(a->vs[vi].acc[i]);
			} else {
				/* The raw ones, one an entry. */
				if (i > 0)
					break;
				v = r->acc[vi - NVERSIONS].version;
				if (raw_class(r->acc[vi - NVERSIONS].suite,
				    v) != w)
					continue;
				nm = tlshello_suite(r->acc[vi -
				    NVERSIONS].suite)->name;
			}
			for (k = 0; k < n; k++)
				if (vorder[k] == v)
					vat |= 1u << k;
			for (k = 0; k < nnamed; k++)
				if (strcmp(named[k], nm) == 0)
					break;
			if (k < nnamed)
				continue;
			if (nnamed < 2)
				named[nnamed++] = nm;
			else
				more++;	/* may count one at two versions */
		}
	}
	if (nnamed == 0)
		return;
	sb_init(&vb, vers, sizeof(vers));
	for (k = 0; k < n; k++)
		if (vat & (1u << k))
			sb_add(&vb, "%s%s", vb.len > 0 ? " " : "",
			    tlshello_version_name(vorder[k]));
	sb_add(sb, "%s%s at %s (%s%s%s", sb->len > 0 ? ", " : "weak: ",
	    weak_names[w], vers, named[0], nnamed > 1 ? ", " : "",
	    nnamed > 1 ? named[1] : "");
	if (more > 0)
		sb_add(sb, " and more");
	sb_add(sb, ")");
}

/*
 * The verdict of a weakness that only lets a passive attacker read mail a
 * sender would otherwise send in clear: on an MX, where TLS is
 * opportunistic (RFC 7435) and a sender that cannot use better falls back
 * to plain text, a warning; where a password crosses it, a failure.
 */
static int
mx_lenient(struct audit *a, struct sbuf *sb)
{
	if (ck_role(a->ck) != ROLE_MX)
		return CHECK_FAIL;
	sb_add(sb, "opportunistic TLS on an MX, so only a warning: ");
	return CHECK_WARN;
}

static void
verdict_ciphers(struct audit *a)
{
	struct checker		*ck = a->ck;
	struct vstate		*vs;
	struct sbuf		 sb, all;
	char			 buf[REPORT_SUMMARY_MAX], list[SUITE_LIST_MAX];
	unsigned int		 seen = 0, refused, unknown;
	size_t			 vi, i;
	int			 st = CHECK_PASS, old = 0, any = 0, w;

	sb_init(&sb, buf, sizeof(buf));
	for (vi = 0; vi < NVERSIONS; vi++)
		seen |= a->vs[vi].weak_seen;
	seen |= a->raw.seen;
	/* The weak ones first: the summary may be cut. */
	for (w = 0; w < W_COUNT; w++)
		if (seen & (1u << w)) {
			if (w == W_BEAST || (w == W_ANON &&
			    ck_role(ck) == ROLE_MX))
				st = st == CHECK_FAIL ? st : CHECK_WARN;
			else
				st = CHECK_FAIL;
			weak_summary(a, w, &sb);
		}
	for (vi = 0; vi < NVERSIONS; vi++) {
		vs = &a->vs[vi];
		if (vs->accepted != ACC_YES)
			continue;
		any = 1;
		sb_add(&sb, "%s%s: %zu%s suite%s", sb.len > 0 ? "; " : "",
		    versions[vi].name, vs->nacc, vs->complete ? "" : "+",
		    vs->nacc == 1 ? "" : "s");
		if (vs->order == ORDER_SERVER)
			sb_add(&sb, ", server order, first %s",
			    SSL_CIPHER_get_name(vs->acc[0]));
		else if (vs->order == ORDER_CLIENT)
			sb_add(&sb, ", client order");
		else if (vs->nacc > 0)
			sb_add(&sb, ", %s", SSL_CIPHER_get_name(vs->acc[0]));
		if (!vs->weak_done) {
			sb_add(&sb, " (weak ones not all probed)");
			if (st == CHECK_PASS)
				st = CHECK_WARN;
		} else if (!vs->complete)
			old = 1;
		if (ck->o.verbose) {
			sb_init(&all, list, sizeof(list));
			for (i = 0; i < vs->nacc; i++)
				sb_add(&all, " %s", SSL_CIPHER_get_name(
				    vs->acc[i]));
			fprintf(stderr, "*  tls-ciphers %s:%s%s\n",
			    versions[vi].name, list, vs->complete ? "" :
			    " (and maybe more)");
		}
	}
	if (!any && a->raw.seen == 0) {
		ck_set(ck, C_TLS_CIPHERS, CHECK_SKIP, "no version accepted%s%s",
		    a->err[0] ? ": " : "", a->err);
		return;
	}
	if ((seen & (1u << W_ANON)) && ck_role(ck) == ROLE_MX)
		sb_add(&sb, "; anonymous suites: opportunistic TLS on an MX, "
		    "so only a warning");
	if (old)
		sb_add(&sb, "; +: every weak class probed, the list stopped at "
		    "the budget of %d connections", AUDIT_MAX_CONN);
	if (a->broken && a->err[0] != '\0')
		sb_add(&sb, "; a probe failed: %s", a->err);
	/*
	 * What this OpenSSL cannot offer was asked raw: refused, or not
	 * known (a violation, no answer, the budget), never taken for
	 * refused.
	 */
	refused = a->raw.classes & a->raw.refused & ~a->raw.seen;
	unknown = a->raw.classes & ~(a->raw.refused | a->raw.seen);
	if (refused != 0) {
		sb_add(&sb, "; ");
		class_list(refused, &sb);
		sb_add(&sb, " refused (raw ClientHello)");
	}
	if (unknown != 0) {
		sb_add(&sb, "; ");
		class_list(unknown, &sb);
		sb_add(&sb, " not known: %s", a->raw.why[0] ? a->raw.why :
		    a->err[0] ? a->err : "the connection budget is spent");
		if (st == CHECK_PASS)
			st = CHECK_WARN;
	}
	for (i = 0; ck->o.verbose && i < a->raw.nacc; i++) {
		const struct tlshello_suite *t = tlshello_suite(
		    a->raw.acc[i].suite);

		fprintf(stderr, "*  tls-ciphers raw: %s (0x%04x %s) at %s\n",
		    t->name, t->code, t->iana,
		    tlshello_version_name(a->raw.acc[i].version));
	}
	ck_set(ck, C_TLS_CIPHERS, st, "%s", buf);
}

static void
verdict_dh(struct audit *a)
{
	struct sbuf	 sb;
	char		 buf[REPORT_SUMMARY_MAX];
	size_t		 vi;
	int		 st = CHECK_PASS, below13 = 0, all = 1;

	for (vi = 1; vi < NVERSIONS; vi++)
		if (a->vs[vi].accepted == ACC_YES) {
			below13 = 1;
			if (!a->vs[vi].complete)
				all = 0;
		}
	sb_init(&sb, buf, sizeof(buf));
	if (a->dh_bits > 0 && a->dh_bits < MIN_DH_BITS) {
		st = mx_lenient(a, &sb);
		sb_add(&sb, "DHE with a %d-bit group (%s): under %d bits",
		    a->dh_bits, a->dh_suite, MIN_DH_BITS);
	} else if (a->dh_bits > 0)
		sb_add(&sb, "DHE with a %d-bit group (%s)", a->dh_bits,
		    a->dh_suite);
	else if (!below13)
		sb_add(&sb, "no finite-field DHE (TLS 1.3 only)");
	else if (all || !a->broken)
		sb_add(&sb, "no DHE suite accepted");
	else {
		st = CHECK_WARN;
		sb_add(&sb, "DHE not probed (%s)", a->err);
	}
	if (a->groups[0] != '\0')
		sb_add(&sb, "; ECDHE groups: %s", a->groups);
	ck_set(a->ck, C_TLS_DH, st, "%s", buf);
}

/* After the other checks, on connections of its own. */
void
check_tls_audit(struct checker *ck)
{
	struct audit		*a;
	const SSL_CIPHER	*c;
	char			 list[SUITE_LIST_MAX];
	size_t			 vi;
	int			 rv, reserve = 0;

	if (ck->o.tls == TLSMODE_NONE) {
		skip_all(ck, "--tls none");
		return;
	}
	if (ck->no_tls_audit) {
		skip_all(ck, "--no-tls-audit");
		return;
	}
	if (ck->o.tls == TLSMODE_STARTTLS && (!ck->have_plain ||
	    !reply_ehlo_keyword(&ck->caps_plain, "STARTTLS", NULL, NULL))) {
		skip_all(ck, "no STARTTLS");
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		skip_all(ck, "out of memory");
		return;
	}
	a->ck = ck;
	if (ck->o.verbose)
		fprintf(stderr, "*  the TLS audit: up to %d connections\n",
		    AUDIT_MAX_CONN);

	/* One connection a version, offering every suite it has. */
	for (vi = 0; vi < NVERSIONS; vi++) {
		if (candidates(&a->vs[vi], versions[vi].v) == -1)
			continue;
		if (offer_list(&a->vs[vi], versions[vi].v, 0, list,
		    sizeof(list)) == 0)
			continue;
		rv = probe(a, vi, list, &c);
		if (rv == 1 && take(&a->vs[vi], versions[vi].v, c) == 0) {
			a->vs[vi].accepted = ACC_YES;
			reserve++;
		} else if (rv == 0)
			a->vs[vi].accepted = ACC_NO;
	}
	/* Kept for the order probes, and one for dh_probe(). */
	reserve++;
	/* SSLv3 and the weak classes this OpenSSL lacks, raw. */
	raw_plan(a);
	raw_run(a, AUDIT_MAX_CONN - reserve);
	/* A suite of each weak class, at every version; TLS 1.3's five. */
	for (vi = 1; vi < NVERSIONS; vi++)
		if (a->vs[vi].accepted == ACC_YES)
			enumerate(a, vi, 1, AUDIT_MAX_CONN - reserve);
	if (a->vs[0].accepted == ACC_YES) {
		a->vs[0].weak_done = 1;
		enumerate(a, 0, 0, AUDIT_MAX_CONN - reserve);
	}
	/* The strong ones, newest version first, within the budget. */
	for (vi = 1; vi < NVERSIONS; vi++)
		if (a->vs[vi].accepted == ACC_YES)
			enumerate(a, vi, 0, AUDIT_MAX_CONN - reserve);
	dh_probe(a);
	for (vi = 0; vi < NVERSIONS; vi++)
		if (a->vs[vi].accepted == ACC_YES)
			order_probe(a, vi);

	verdict_protocols(a);
	verdict_ciphers(a);
	verdict_dh(a);
	if (!a->cert_done) {
		ck_set(ck, C_TLS_KEY, CHECK_SKIP, "no handshake completed");
		ck_set(ck, C_TLS_CHAIN, CHECK_SKIP, "no handshake completed");
		ck_set(ck, C_TLS_OCSP, CHECK_SKIP, "no handshake completed");
	}
	if (ck->o.verbose)
		fprintf(stderr, "*  the TLS audit took %d connections\n",
		    a->nconn);
	explicit_bzero(a, sizeof(*a));
	free(a);
}
