/*
 * Our TLS seam over OpenSSL 3 (see tls.h): secure defaults in one place,
 * non-blocking connections driven by an event loop, errors as strings, and
 * session-ticket keys shared by the worker processes.
 */
#include <sys/mman.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/tls.h"

/*
 * TLS 1.2 suites for the server: forward secrecy (ECDHE) and an AEAD only,
 * for ECDSA and RSA certificates (Mozilla's "intermediate" list).  TLS 1.3
 * keeps OpenSSL's default suites, which are all AEADs.
 */
#define SERVER_CIPHERS_TLS12						\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define SERVER_GROUPS		"X25519:P-256:P-384"
#define SERVER_SESSID_CTX	"smtpauthd"
#define SERVER_CACHE_SIZE	1024
/*
 * Session lifetime.  With TLS_TICKET_SLOTS keys rotated every
 * TLS_TICKET_ROTATE_SECS, a ticket stays decryptable for at least two
 * rotation periods, so sessions must not outlive that.
 */
#define SERVER_SESSION_SECS	(2 * TLS_TICKET_ROTATE_SECS)
#define TLS_MAX_PAIRS		4
#define KEY_FILE_MAX		(64 * 1024)	/* a PEM private key */

#define TICKET_NAME_LEN		16
#define TICKET_AES_LEN		32
#define TICKET_HMAC_LEN		32
#define TICKET_READ_TRIES	100000
/* tls-ticket-keys: nginx's layouts, name | HMAC key | AES key. */
#define TICKET_FILE_KEY80	80	/* AES-256-CBC, 32-byte HMAC key */
#define TICKET_FILE_KEY48	48	/* AES-128-CBC, 16-byte HMAC key */

struct ticket_key {
	unsigned char	name[TICKET_NAME_LEN];
	unsigned char	aes[TICKET_AES_LEN];
	unsigned char	hmac[TICKET_HMAC_LEN];
	uint32_t	aes_len;	/* 32, or 16 (a 48-byte file key) */
	uint32_t	hmac_len;
};
#define TICKET_KEY_WORDS	(sizeof(struct ticket_key) / sizeof(uint32_t))

_Static_assert(sizeof(struct ticket_key) % sizeof(uint32_t) == 0,
    "ticket key is not a whole number of words");
/* Atomics in memory shared by processes must not hide a lock. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic int is not lock-free");

/*
 * The shared region.  One writer (the parent) and readers in every worker,
 * synchronised by a sequence lock: seq is odd while a rotation writes.  The
 * key material is kept in atomic words so that a reader racing a writer
 * reads stale or new words (and retries), never undefined behaviour.
 */
struct tls_ticket_keys {
	atomic_uint	seq;
	atomic_uint	current;
	atomic_uint	nkeys;		/* slots in use */
	atomic_uint	fixed;		/* from a file: never rotated */
	atomic_uint	words[TLS_TICKET_KEYS_MAX][TICKET_KEY_WORDS];
};

struct tls_ctx {
	SSL_CTX			*ssl_ctx;
	int			 server;
	struct tls_ticket_keys	*tickets;
	EVP_CIPHER		*ticket_cipher;
	EVP_CIPHER		*ticket_cipher128;
	atomic_int		 refs;
};

struct tls {
	SSL		*ssl;
	struct tls_ctx	*ctx;
	int		 server;
	int		 handshake_done;
	int		 fatal;	/* no more I/O, no close_notify */
	int		 close_sent;
	char		 err[256];
};

static void		*wipe_malloc(size_t, const char *, int);
static void		*wipe_realloc(void *, size_t, const char *, int);
static void		 wipe_free(void *, const char *, int);
static const char	*ossl_reason(unsigned long, char *, size_t);
static void		 ctx_error(char *, size_t, const char *, ...)
			    __attribute__((format(printf, 3, 4)));
static void		 conn_error(struct tls *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));
static int		 conn_result(struct tls *, int, const char *);
static int		 no_passphrase(char *, int, int, void *);
static EVP_PKEY		*read_private_key(const char *, char *, size_t);
static int		 server_load_pair(struct tls_ctx *, const char *,
			    const char *, int *, size_t, char *, size_t);
static int		 ticket_key_generate(struct ticket_key *);
static void		 ticket_key_store(struct tls_ticket_keys *,
			    unsigned int, const struct ticket_key *);
static int		 ticket_keys_read(struct tls_ticket_keys *,
			    struct ticket_key *, unsigned int *, unsigned int *);
static int		 ticket_write_lock(struct tls_ticket_keys *);
static int		 ticket_cb(SSL *, unsigned char *, unsigned char *,
			    EVP_CIPHER_CTX *, EVP_MAC_CTX *, int);
static int		 parse_ip(const char *, char *, size_t);
static struct tls	*conn_new(struct tls_ctx *, int);
static int		 print_name(const X509_NAME *, char *, size_t);

/*
 * Memory.
 */

static void *
wipe_malloc(size_t n, const char *file, int line)
{
	return malloc(n);
}

/* The whole block, slack included: OpenSSL may have used all of it. */
static void
wipe_free(void *p, const char *file, int line)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* Never realloc(3): it would free the old block unwiped when it moves. */
static void *
wipe_realloc(void *p, size_t n, const char *file, int line)
{
	void	*q;
	size_t	 old;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p, file, line);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (n <= old)
		return p;
	if ((q = malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old);
	wipe_free(p, file, line);
	return q;
}

int
tls_wipe_freed_memory(void)
{
	return CRYPTO_set_mem_functions(wipe_malloc, wipe_realloc,
	    wipe_free) == 1 ? 0 : -1;
}

/*
 * Errors.
 */

/* A short, readable reason for an OpenSSL error code. */
static const char *
ossl_reason(unsigned long e, char *buf, size_t len)
{
	const char	*r;

	if (e == 0)
		return "unknown error";
	if (ERR_SYSTEM_ERROR(e)) {
		/* The GNU strerror_r returns its own string or buf. */
		return strerror_r((int)ERR_GET_REASON(e), buf, len);
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return "unexpected EOF";
	if ((r = ERR_reason_error_string(e)) != NULL)
		return r;
	ERR_error_string_n(e, buf, len);
	return buf;
}

/*
 * Format a message into err, followed by ": reason" for the oldest error on
 * this thread's OpenSSL queue (usually the root cause), then clear it.
 */
static void
ctx_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list		 ap;
	char		 rbuf[128];
	unsigned long	 e;
	int		 n;

	if (err == NULL || errlen == 0) {
		ERR_clear_error();
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		err[0] = '\0';
	else if ((size_t)n < errlen && (e = ERR_peek_error()) != 0)
		(void)snprintf(err + n, errlen - (size_t)n, ": %s",
		    ossl_reason(e, rbuf, sizeof(rbuf)));
	ERR_clear_error();
}

static void
conn_error(struct tls *t, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	/* A long message is cut: better than none. */
	if (vsnprintf(t->err, sizeof(t->err), fmt, ap) < 0)
		(void)snprintf(t->err, sizeof(t->err), "error");
	va_end(ap);
}

/*
 * Map the result of an SSL_* call (r == 1 success) to our return values:
 * 0, TLS_WANT_POLLIN, TLS_WANT_POLLOUT or -1 with a message.  A clean close
 * (close_notify) during a read is 0 as well; the caller tells them apart.
 */
static int
conn_result(struct tls *t, int r, const char *what)
{
	char		 rbuf[128];
	unsigned long	 e;
	long		 vr;
	int		 saved = errno, ssl_err;

	if (r == 1)
		return 0;
	ssl_err = SSL_get_error(t->ssl, r);
	switch (ssl_err) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_POLLOUT;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		t->fatal = 1;
		e = ERR_peek_error();
		if (e != 0)
			conn_error(t, "%s: %s", what,
			    ossl_reason(e, rbuf, sizeof(rbuf)));
		else if (saved != 0)
			conn_error(t, "%s: %s", what,
			    strerror_r(saved, rbuf, sizeof(rbuf)));
		else
			conn_error(t, "%s: unexpected EOF", what);
		break;
	case SSL_ERROR_SSL:
		t->fatal = 1;
		e = ERR_peek_error();
		if (!t->server && ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
		    (vr = SSL_get_verify_result(t->ssl)) != X509_V_OK)
			conn_error(t, "certificate verify failed: %s",
			    X509_verify_cert_error_string(vr));
		else
			conn_error(t, "%s: %s", what,
			    ossl_reason(e, rbuf, sizeof(rbuf)));
		break;
	default:
		t->fatal = 1;
		conn_error(t, "%s: SSL error %d", what, ssl_err);
		break;
	}
	ERR_clear_error();
	return -1;
}

/*
 * Session-ticket keys.
 */

static int
ticket_key_generate(struct ticket_key *k)
{
	memset(k, 0, sizeof(*k));
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
	    RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
		explicit_bzero(k, sizeof(*k));
		ERR_clear_error();
		return -1;
	}
	k->aes_len = TICKET_AES_LEN;
	k->hmac_len = TICKET_HMAC_LEN;
	return 0;
}

/* Write a key into a slot; the caller holds the write side (seq odd). */
static void
ticket_key_store(struct tls_ticket_keys *tk, unsigned int slot,
    const struct ticket_key *k)
{
	uint32_t	w[TICKET_KEY_WORDS];
	size_t		i;

	memcpy(w, k, sizeof(w));
	for (i = 0; i < TICKET_KEY_WORDS; i++)
		atomic_store_explicit(&tk->words[slot][i], w[i],
		    memory_order_relaxed);
	explicit_bzero(w, sizeof(w));
}

/*
 * Copy all slots, the current index and the slots in use out of shared
 * memory, consistently: a reader retries while a rotation is under way.
 * keys has TLS_TICKET_KEYS_MAX entries; the caller wipes them.
 */
static int
ticket_keys_read(struct tls_ticket_keys *tk, struct ticket_key *keys,
    unsigned int *cur, unsigned int *nkeys)
{
	uint32_t	w[TLS_TICKET_KEYS_MAX][TICKET_KEY_WORDS];
	unsigned int	s1, s2, c, n;
	size_t		i, j;
	int		tries;

	_Static_assert(sizeof(w) == TLS_TICKET_KEYS_MAX *
	    sizeof(struct ticket_key), "ticket key layout");
	for (tries = 0; tries < TICKET_READ_TRIES; tries++) {
		s1 = atomic_load_explicit(&tk->seq, memory_order_acquire);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		c = atomic_load_explicit(&tk->current, memory_order_relaxed);
		n = atomic_load_explicit(&tk->nkeys, memory_order_relaxed);
		for (i = 0; i < TLS_TICKET_KEYS_MAX; i++)
			for (j = 0; j < TICKET_KEY_WORDS; j++)
				w[i][j] = atomic_load_explicit(
				    &tk->words[i][j], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&tk->seq, memory_order_relaxed);
		if (s1 == s2) {
			memcpy(keys, w, sizeof(w));
			explicit_bzero(w, sizeof(w));
			if (n == 0 || n > TLS_TICKET_KEYS_MAX)
				n = TLS_TICKET_KEYS_MAX;
			*nkeys = n;
			*cur = c % n;
			return 0;
		}
	}
	explicit_bzero(w, sizeof(w));
	return -1;
}

struct tls_ticket_keys *
tls_ticket_keys_new(void)
{
	struct tls_ticket_keys	*tk;
	struct ticket_key	 k;
	unsigned int		 i;

	tk = mmap(NULL, sizeof(*tk), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tk == MAP_FAILED)
		return NULL;
	/* Keep the keys out of core dumps; failure is not fatal. */
	(void)madvise(tk, sizeof(*tk), MADV_DONTDUMP);
	atomic_store_explicit(&tk->seq, 0, memory_order_relaxed);
	atomic_store_explicit(&tk->current, 0, memory_order_relaxed);
	atomic_store_explicit(&tk->nkeys, TLS_TICKET_SLOTS,
	    memory_order_relaxed);
	atomic_store_explicit(&tk->fixed, 0, memory_order_relaxed);
	for (i = 0; i < TLS_TICKET_SLOTS; i++) {
		if (ticket_key_generate(&k) == -1) {
			tls_ticket_keys_free(tk);
			errno = EIO;
			return NULL;
		}
		ticket_key_store(tk, i, &k);
	}
	explicit_bzero(&k, sizeof(k));
	atomic_thread_fence(memory_order_release);
	return tk;
}

void
tls_ticket_keys_rotate(struct tls_ticket_keys *tk)
{
	struct ticket_key	k;
	unsigned int		s, next;

	if (tk == NULL || atomic_load_explicit(&tk->fixed,
	    memory_order_relaxed))
		return;		/* the administrator's keys rotate by hand */
	/* Without fresh randomness keep the old key rather than a weak one. */
	if (ticket_key_generate(&k) == -1)
		return;

	s = ticket_write_lock(tk);
	next = (atomic_load_explicit(&tk->current, memory_order_relaxed) + 1) %
	    TLS_TICKET_SLOTS;
	ticket_key_store(tk, next, &k);
	atomic_store_explicit(&tk->current, next, memory_order_relaxed);
	atomic_store_explicit(&tk->seq, s + 2, memory_order_release);
	explicit_bzero(&k, sizeof(k));
}

/* Take the write side (seq made odd); returns the even seq it was. */
static int
ticket_write_lock(struct tls_ticket_keys *tk)
{
	unsigned int	s;

	/* A CAS keeps two writers from interleaving. */
	s = atomic_load_explicit(&tk->seq, memory_order_relaxed);
	for (;;) {
		if ((s & 1) == 0 && atomic_compare_exchange_weak_explicit(
		    &tk->seq, &s, s + 1, memory_order_relaxed,
		    memory_order_relaxed))
			break;
		if (s & 1) {
			sched_yield();
			s = atomic_load_explicit(&tk->seq,
			    memory_order_relaxed);
		}
	}
	atomic_thread_fence(memory_order_release);
	return (int)s;
}

int
tls_ticket_keys_load(struct tls_ticket_keys *tk, const char *path,
    char *err, size_t errlen)
{
	struct ticket_key	keys[TLS_TICKET_KEYS_MAX];
	unsigned char		buf[TLS_TICKET_KEYS_MAX * TICKET_FILE_KEY80 + 1];
	const unsigned char	*p;
	size_t			len = 0, klen, n, i, half;
	ssize_t			r;
	unsigned int		s;
	int			fd, rv = -1;

	if (path == NULL) {
		/* Back to keys of our own, rotated by the parent. */
		if (tk == NULL || !atomic_load_explicit(&tk->fixed,
		    memory_order_relaxed))
			return 0;	/* ours already: keep them */
		s = (unsigned int)ticket_write_lock(tk);
		for (i = 0; i < TLS_TICKET_SLOTS; i++) {
			if (ticket_key_generate(&keys[0]) == -1)
				break;
			ticket_key_store(tk, (unsigned int)i, &keys[0]);
		}
		explicit_bzero(keys, sizeof(keys));
		atomic_store_explicit(&tk->current, 0, memory_order_relaxed);
		atomic_store_explicit(&tk->nkeys, TLS_TICKET_SLOTS,
		    memory_order_relaxed);
		atomic_store_explicit(&tk->fixed, 0, memory_order_relaxed);
		atomic_store_explicit(&tk->seq, s + 2, memory_order_release);
		return 0;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		ctx_error(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (len < sizeof(buf) &&
	    (r = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			ctx_error(err, errlen, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		len += (size_t)r;
	}
	/* Up to 4 keys, the two sizes cannot be mistaken for each other. */
	if (len > 0 && len % TICKET_FILE_KEY80 == 0 &&
	    len <= TLS_TICKET_KEYS_MAX * TICKET_FILE_KEY80)
		klen = TICKET_FILE_KEY80;
	else if (len > 0 && len % TICKET_FILE_KEY48 == 0 &&
	    len <= TLS_TICKET_KEYS_MAX * TICKET_FILE_KEY48)
		klen = TICKET_FILE_KEY48;
	else {
		ctx_error(err, errlen, "%s: expected 1 to %d keys of 80 (or "
		    "48) bytes each, got %zu%s bytes", path,
		    TLS_TICKET_KEYS_MAX, len, len > TLS_TICKET_KEYS_MAX *
		    TICKET_FILE_KEY80 ? " or more" : "");
		goto out;
	}
	n = len / klen;
	half = (klen - TICKET_NAME_LEN) / 2;
	memset(keys, 0, sizeof(keys));
	for (i = 0, p = buf; i < n; i++, p += klen) {
		memcpy(keys[i].name, p, TICKET_NAME_LEN);
		memcpy(keys[i].hmac, p + TICKET_NAME_LEN, half);
		memcpy(keys[i].aes, p + TICKET_NAME_LEN + half, half);
		keys[i].hmac_len = keys[i].aes_len = (uint32_t)half;
	}
	if (tk != NULL) {
		s = (unsigned int)ticket_write_lock(tk);
		for (i = 0; i < TLS_TICKET_KEYS_MAX; i++)
			ticket_key_store(tk, (unsigned int)i, &keys[i]);
		atomic_store_explicit(&tk->current, 0, memory_order_relaxed);
		atomic_store_explicit(&tk->nkeys, (unsigned int)n,
		    memory_order_relaxed);
		atomic_store_explicit(&tk->fixed, 1, memory_order_relaxed);
		atomic_store_explicit(&tk->seq, s + 2, memory_order_release);
	}
	rv = 0;
 out:
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(keys, sizeof(keys));
	close(fd);
	return rv;
}

void
tls_ticket_keys_free(struct tls_ticket_keys *tk)
{
	size_t	i, j;

	if (tk == NULL)
		return;
	for (i = 0; i < TLS_TICKET_KEYS_MAX; i++)
		for (j = 0; j < TICKET_KEY_WORDS; j++)
			atomic_store_explicit(&tk->words[i][j], 0,
			    memory_order_relaxed);
	(void)munmap(tk, sizeof(*tk));
}

void
tls_ticket_keys_unmap(struct tls_ticket_keys *tk)
{
	if (tk != NULL)
		(void)munmap(tk, sizeof(*tk));
}

/*
 * OpenSSL asks for ticket keys: enc 1 to issue a ticket (current key), enc
 * 0 to open one (any slot; 2 asks for a fresh ticket when the key is not
 * the current one).  The same callback serves TLS 1.2 and TLS 1.3 tickets.
 */
static int
ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key	 keys[TLS_TICKET_KEYS_MAX], *k;
	struct tls_ctx		*ctx;
	EVP_CIPHER		*cipher;
	OSSL_PARAM		 params[3];
	char			 digest[] = "SHA256";
	unsigned int		 cur, nkeys, i;
	int			 ivlen, ret = -1;

	ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (ctx == NULL || ctx->tickets == NULL)
		return 0;
	/* Keys unavailable: no ticket, or a full handshake. */
	if (ticket_keys_read(ctx->tickets, keys, &cur, &nkeys) == -1)
		return 0;

	if (enc) {
		k = &keys[cur];
		cipher = k->aes_len == 16 ? ctx->ticket_cipher128 :
		    ctx->ticket_cipher;
		ivlen = EVP_CIPHER_get_iv_length(cipher);
		if (ivlen <= 0 || ivlen > EVP_MAX_IV_LENGTH ||
		    RAND_bytes(iv, ivlen) != 1)
			goto out;
		memcpy(name, k->name, TICKET_NAME_LEN);
		if (!EVP_EncryptInit_ex2(cctx, cipher, k->aes, iv, NULL))
			goto out;
		ret = 1;
	} else {
		for (i = 0; i < nkeys; i++)
			if (memcmp(name, keys[i].name, TICKET_NAME_LEN) == 0)
				break;
		if (i == nkeys) {
			ret = 0;	/* unknown or retired key */
			goto out;
		}
		k = &keys[i];
		cipher = k->aes_len == 16 ? ctx->ticket_cipher128 :
		    ctx->ticket_cipher;
		if (!EVP_DecryptInit_ex2(cctx, cipher, k->aes, iv, NULL))
			goto out;
		ret = i == cur ? 1 : 2;
	}
	if (k->hmac_len == 0 || k->hmac_len > sizeof(k->hmac))
		goto out;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    k->hmac, k->hmac_len);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params))
		ret = -1;
 out:
	explicit_bzero(keys, sizeof(keys));
	return ret;
}

/*
 * Contexts.
 */

/* Never prompt for a passphrase on a terminal: encrypted keys fail. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/*
 * The key file's text goes through a buffer of ours that is wiped before
 * it is freed: stdio's buffer (BIO_new_file) would be freed with the PEM
 * text in it, and every process forked later would inherit that copy.
 */
static EVP_PKEY *
read_private_key(const char *path, char *err, size_t errlen)
{
	EVP_PKEY	*pkey = NULL;
	BIO		*bio;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		ctx_error(err, errlen, "%s: cannot open private key: %s", path,
		    strerror(errno));
		return NULL;
	}
	if ((buf = malloc(KEY_FILE_MAX)) == NULL) {
		close(fd);
		ctx_error(err, errlen, "out of memory");
		return NULL;
	}
	while (len < KEY_FILE_MAX && (n = read(fd, buf + len,
	    KEY_FILE_MAX - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			ctx_error(err, errlen, "%s: cannot read private "
			    "key: %s", path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len == KEY_FILE_MAX) {
		ctx_error(err, errlen, "%s: private key file too large", path);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		ctx_error(err, errlen, "out of memory");
		goto out;
	}
	if ((pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
	    NULL)) == NULL)
		ctx_error(err, errlen, "%s: cannot load private key", path);
	BIO_free(bio);
 out:
	close(fd);
	OPENSSL_cleanse(buf, KEY_FILE_MAX);
	free(buf);
	return pkey;
}

static int
server_load_pair(struct tls_ctx *ctx, const char *cert, const char *key,
    int *types, size_t ntypes, char *err, size_t errlen)
{
	X509		*x;
	EVP_PKEY	*pkey = NULL, *cpub;
	size_t		 i;
	int		 type, ret = -1;

	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, cert) != 1) {
		ctx_error(err, errlen, "%s: cannot load certificate chain",
		    cert);
		return -1;
	}
	/* The certificate just loaded is the context's current one. */
	if ((x = SSL_CTX_get0_certificate(ctx->ssl_ctx)) == NULL ||
	    (cpub = X509_get0_pubkey(x)) == NULL) {
		ctx_error(err, errlen, "%s: cannot use certificate", cert);
		return -1;
	}
	type = EVP_PKEY_get_base_id(cpub);
	for (i = 0; i < ntypes; i++) {
		if (types[i] == type) {
			ctx_error(err, errlen, "%s: a certificate of this key "
			    "type (%s) was already loaded", cert,
			    EVP_PKEY_get0_type_name(cpub));
			return -1;
		}
	}
	types[ntypes] = type;

	if ((pkey = read_private_key(key, err, errlen)) == NULL)
		goto out;
	/*
	 * Check the key against this pair's certificate ourselves: OpenSSL
	 * files a key under its own type, so a key of another type would be
	 * checked against some other certificate.
	 */
	if (X509_check_private_key(x, pkey) != 1) {
		ERR_clear_error();
		ctx_error(err, errlen, "%s and %s: private key does not match "
		    "the certificate", cert, key);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx->ssl_ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx->ssl_ctx) != 1) {
		ctx_error(err, errlen, "%s and %s: private key does not match "
		    "the certificate", cert, key);
		goto out;
	}
	ret = 0;
 out:
	EVP_PKEY_free(pkey);
	return ret;
}

struct tls_ctx *
tls_server_new(const char *const *certs, const char *const *keys,
    size_t npairs, struct tls_ticket_keys *tickets, char *err,
    size_t errlen)
{
	struct tls_ctx	*ctx;
	SSL_CTX		*sc;
	int		 types[TLS_MAX_PAIRS];
	size_t		 i;

	ERR_clear_error();
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (npairs == 0 || npairs > TLS_MAX_PAIRS) {
		ctx_error(err, errlen, "%zu certificate/key pairs (1 to %d)",
		    npairs, TLS_MAX_PAIRS);
		return NULL;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		ctx_error(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&ctx->refs, 1);
	ctx->server = 1;
	ctx->tickets = tickets;
	if ((sc = ctx->ssl_ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ctx_error(err, errlen, "SSL_CTX_new");
		goto fail;
	}
	SSL_CTX_set_app_data(sc, ctx);
	if (SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(sc, TLS1_3_VERSION) != 1) {
		ctx_error(err, errlen, "cannot set protocol versions");
		goto fail;
	}
	if (SSL_CTX_set_cipher_list(sc, SERVER_CIPHERS_TLS12) != 1) {
		ctx_error(err, errlen, "cannot set ciphers");
		goto fail;
	}
	if (SSL_CTX_set1_groups_list(sc, SERVER_GROUPS) != 1) {
		ctx_error(err, errlen, "cannot set groups");
		goto fail;
	}
	SSL_CTX_set_options(sc, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_clear_options(sc, SSL_OP_NO_TICKET |
	    SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(sc, no_passphrase);

	for (i = 0; i < npairs; i++) {
		if (certs[i] == NULL || keys[i] == NULL) {
			ctx_error(err, errlen, "certificate/key pair %zu is "
			    "incomplete", i + 1);
			goto fail;
		}
		if (server_load_pair(ctx, certs[i], keys[i], types, i, err,
		    errlen) == -1)
			goto fail;
	}

	/* Resumption: a per-process cache and tickets. */
	if (SSL_CTX_set_session_id_context(sc,
	    (const unsigned char *)SERVER_SESSID_CTX,
	    sizeof(SERVER_SESSID_CTX) - 1) != 1) {
		ctx_error(err, errlen, "cannot set session id context");
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(sc, SERVER_CACHE_SIZE);
	SSL_CTX_set_timeout(sc, SERVER_SESSION_SECS);
	if (SSL_CTX_set_num_tickets(sc, 1) != 1) {
		ctx_error(err, errlen, "cannot set the number of tickets");
		goto fail;
	}
	if (tickets != NULL) {
		ctx->ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC",
		    NULL);
		if (ctx->ticket_cipher == NULL ||
		    EVP_CIPHER_get_key_length(ctx->ticket_cipher) !=
		    TICKET_AES_LEN) {
			ctx_error(err, errlen, "cannot fetch AES-256-CBC");
			goto fail;
		}
		ctx->ticket_cipher128 = EVP_CIPHER_fetch(NULL, "AES-128-CBC",
		    NULL);
		if (ctx->ticket_cipher128 == NULL ||
		    EVP_CIPHER_get_key_length(ctx->ticket_cipher128) != 16) {
			ctx_error(err, errlen, "cannot fetch AES-128-CBC");
			goto fail;
		}
		if (SSL_CTX_set_tlsext_ticket_key_evp_cb(sc, ticket_cb) != 1) {
			ctx_error(err, errlen, "cannot set the ticket "
			    "callback");
			goto fail;
		}
	}
	ERR_clear_error();
	return ctx;
 fail:
	tls_ctx_free(ctx);
	return NULL;
}

struct tls_ctx *
tls_client_new(const char *ca_file, int insecure, int min_version,
    int max_version, char *err, size_t errlen)
{
	struct tls_ctx	*ctx;
	SSL_CTX		*sc;

	ERR_clear_error();
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (min_version == 0)
		min_version = TLS1_2_VERSION;
	if (max_version == 0)
		max_version = TLS1_3_VERSION;
	if (min_version > max_version) {
		ctx_error(err, errlen, "minimum TLS version above maximum");
		return NULL;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		ctx_error(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&ctx->refs, 1);
	if ((sc = ctx->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ctx_error(err, errlen, "SSL_CTX_new");
		goto fail;
	}
	SSL_CTX_set_app_data(sc, ctx);
	if (SSL_CTX_set_min_proto_version(sc, min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(sc, max_version) != 1) {
		ctx_error(err, errlen, "unsupported TLS version");
		goto fail;
	}
	/*
	 * Probing a server for old versions needs SHA-1 and MD5 signatures,
	 * which only security level 0 allows.
	 */
	if (min_version < TLS1_2_VERSION)
		SSL_CTX_set_security_level(sc, 0);
	SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);

	/*
	 * Load trust anchors even when insecure: the handshake then goes on
	 * whatever the result, but the result is still recorded.
	 */
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(sc, ca_file, NULL) != 1) {
			ctx_error(err, errlen, "%s: cannot load CA "
			    "certificates", ca_file);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(sc) != 1) {
		ctx_error(err, errlen, "cannot load the system CA store");
		goto fail;
	}
	SSL_CTX_set_verify(sc, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
	    NULL);
	ERR_clear_error();
	return ctx;
 fail:
	tls_ctx_free(ctx);
	return NULL;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	/* Connections hold a reference: the last one out frees. */
	if (atomic_fetch_sub_explicit(&ctx->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	EVP_CIPHER_free(ctx->ticket_cipher);
	EVP_CIPHER_free(ctx->ticket_cipher128);
	free(ctx);
}

/*
 * Connections.
 */

static struct tls *
conn_new(struct tls_ctx *ctx, int fd)
{
	struct tls	*t;

	ERR_clear_error();
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->ssl = SSL_new(ctx->ssl_ctx)) == NULL ||
	    SSL_set_fd(t->ssl, fd) != 1) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		errno = ENOMEM;
		return NULL;
	}
	atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	t->ctx = ctx;
	t->server = ctx->server;
	return t;
}

struct tls *
tls_accept_fd(struct tls_ctx *ctx, int fd)
{
	struct tls	*t;

	if (ctx == NULL || !ctx->server) {
		errno = EINVAL;
		return NULL;
	}
	if ((t = conn_new(ctx, fd)) == NULL)
		return NULL;
	SSL_set_accept_state(t->ssl);
	return t;
}

/*
 * If name is an IP address literal (IPv6 possibly in brackets), put it
 * without brackets into buf and return 1.
 */
static int
parse_ip(const char *name, char *buf, size_t len)
{
	struct in6_addr	a6;
	struct in_addr	a4;
	size_t		n = strlen(name);

	if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
		name++;
		n -= 2;
	}
	if (n >= len)
		return 0;
	memcpy(buf, name, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, &a4) == 1 ||
	    inet_pton(AF_INET6, buf, &a6) == 1;
}

struct tls *
tls_connect_fd(struct tls_ctx *ctx, int fd, const char *servername)
{
	struct tls	*t;
	char		 ip[INET6_ADDRSTRLEN + 1];

	if (ctx == NULL || ctx->server) {
		errno = EINVAL;
		return NULL;
	}
	if ((t = conn_new(ctx, fd)) == NULL)
		return NULL;
	SSL_set_connect_state(t->ssl);
	if (servername == NULL)
		return t;

	/*
	 * A name goes into SNI and the host name check; an address literal
	 * is never sent as SNI (RFC 6066) and is checked against the IP
	 * addresses in the certificate.  A bad name fails the handshake.
	 */
	if (parse_ip(servername, ip, sizeof(ip))) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
		    ip) != 1) {
			t->fatal = 1;
			conn_error(t, "%s: cannot check this address", ip);
		}
	} else {
		SSL_set_hostflags(t->ssl,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set_tlsext_host_name(t->ssl, servername) != 1 ||
		    SSL_set1_host(t->ssl, servername) != 1) {
			t->fatal = 1;
			conn_error(t, "invalid server name");
		}
	}
	ERR_clear_error();
	return t;
}

int
tls_handshake(struct tls *t)
{
	int	r;

	if (t->handshake_done)
		return 0;
	if (t->fatal) {
		if (t->err[0] == '\0')
			conn_error(t, "connection failed earlier");
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	r = conn_result(t, SSL_do_handshake(t->ssl), "handshake");
	if (r == 0)
		t->handshake_done = 1;
	return r;
}

ssize_t
tls_read(struct tls *t, void *buf, size_t len)
{
	size_t	n = 0;
	int	r;

	if (t->fatal) {
		if (t->err[0] == '\0')
			conn_error(t, "connection failed earlier");
		return -1;
	}
	if (len == 0) {
		conn_error(t, "read: zero-length buffer");
		return -1;
	}
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	ERR_clear_error();
	errno = 0;
	r = SSL_read_ex(t->ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	return conn_result(t, r, "read");
}

ssize_t
tls_write(struct tls *t, const void *buf, size_t len)
{
	size_t	n = 0;
	int	r;

	if (t->fatal) {
		if (t->err[0] == '\0')
			conn_error(t, "connection failed earlier");
		return -1;
	}
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	ERR_clear_error();
	errno = 0;
	r = SSL_write_ex(t->ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	if ((r = conn_result(t, r, "write")) == 0) {
		/* The peer's close_notify does not end our direction. */
		t->fatal = 1;
		conn_error(t, "write: connection closed by peer");
		return -1;
	}
	return r;
}

void
tls_close(struct tls *t)
{
	if (t == NULL || t->close_sent)
		return;
	t->close_sent = 1;
	/*
	 * After a fatal error OpenSSL must not be asked for a shutdown, and
	 * before the handshake there is nothing to close.
	 */
	if (t->fatal || !SSL_is_init_finished(t->ssl))
		return;
	ERR_clear_error();
	(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	tls_ctx_free(t->ctx);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

const char *
tls_error(struct tls *t)
{
	if (t == NULL)
		return "no connection";
	return t->err[0] != '\0' ? t->err : "no error";
}

const char *
tls_conn_version(struct tls *t)
{
	return SSL_get_version(t->ssl);
}

const char *
tls_conn_cipher(struct tls *t)
{
	const SSL_CIPHER	*c;

	if ((c = SSL_get_current_cipher(t->ssl)) == NULL)
		return "(NONE)";
	return SSL_CIPHER_get_name(c);
}

int
tls_conn_cipher_bits(struct tls *t)
{
	const SSL_CIPHER	*c;

	if ((c = SSL_get_current_cipher(t->ssl)) == NULL)
		return 0;
	return SSL_CIPHER_get_bits(c, NULL);
}

int
tls_conn_resumed(struct tls *t)
{
	return t->handshake_done && SSL_session_reused(t->ssl) == 1;
}

SSL_CTX *
tls_ctx_openssl(struct tls_ctx *ctx)
{
	return ctx->ssl_ctx;
}

SSL *
tls_conn_openssl(struct tls *t)
{
	return t->ssl;
}

int
tls_conn_cbind(struct tls *t, unsigned char *out, size_t len)
{
	static const char	label[] = "EXPORTER-Channel-Binding";

	if (t == NULL || !t->handshake_done || len != TLS_CBIND_LEN ||
	    SSL_version(t->ssl) != TLS1_3_VERSION)
		return -1;
	/* use_context 1 with an empty context: RFC 9266 2. */
	if (SSL_export_keying_material(t->ssl, out, len, label,
	    sizeof(label) - 1, (const unsigned char *)"", 0, 1) != 1)
		return -1;
	return 0;
}

int
tls_peer_verified(struct tls *t)
{
	if (!t->handshake_done || SSL_get0_peer_certificate(t->ssl) == NULL)
		return 0;
	return SSL_get_verify_result(t->ssl) == X509_V_OK;
}

const char *
tls_peer_verify_error(struct tls *t)
{
	if (SSL_get0_peer_certificate(t->ssl) == NULL)
		return "no peer certificate";
	return X509_verify_cert_error_string(SSL_get_verify_result(t->ssl));
}

int
tls_peer_cert_names(struct tls *t, const char *host)
{
	X509	*x;
	char	 name[256];
	size_t	 n = strlen(host);

	if ((x = SSL_get0_peer_certificate(t->ssl)) == NULL)
		return -1;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n >= sizeof(name))
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	if (X509_check_ip_asc(x, name, 0) == 1 ||
	    X509_check_host(x, name, n, 0, NULL) == 1)
		return 1;
	ERR_clear_error();
	return 0;
}

int
tls_peer_cert_notafter(struct tls *t, time_t *when)
{
	const ASN1_TIME	*at;
	X509		*x;
	struct tm	 tm;
	time_t		 tt;

	if ((x = SSL_get0_peer_certificate(t->ssl)) == NULL ||
	    (at = X509_get0_notAfter(x)) == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(at, &tm) != 1) {
		ERR_clear_error();
		return -1;
	}
	if ((tt = timegm(&tm)) == (time_t)-1)
		return -1;
	*when = tt;
	return 0;
}

/*
 * One line, RFC 2253 order and escaping (control and non-ASCII bytes
 * escaped: the peer chose these bytes).  -1 when it does not fit; buf
 * then holds as much as fits.
 */
static int
print_name(const X509_NAME *name, char *buf, size_t len)
{
	BIO	*bio;
	char	*p;
	long	 n;
	int	 ret = -1;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(bio, &p)) >= 0) {
		if ((size_t)n < len) {
			memcpy(buf, p, (size_t)n);
			buf[n] = '\0';
			ret = 0;
		} else {
			memcpy(buf, p, len - 1);
			buf[len - 1] = '\0';
		}
	}
	BIO_free(bio);
	ERR_clear_error();
	return ret;
}

int
tls_peer_cert_subject(struct tls *t, char *buf, size_t len)
{
	X509	*x;

	if ((x = SSL_get0_peer_certificate(t->ssl)) == NULL)
		return -1;
	return print_name(X509_get_subject_name(x), buf, len);
}

int
tls_peer_cert_issuer(struct tls *t, char *buf, size_t len)
{
	X509	*x;

	if ((x = SSL_get0_peer_certificate(t->ssl)) == NULL)
		return -1;
	return print_name(X509_get_issuer_name(x), buf, len);
}

void
tls_release_buffers(struct tls *t)
{
	/* Fails harmlessly while data is still buffered. */
	(void)SSL_free_buffers(t->ssl);
}

/*
 * Client-side resumption.
 */

unsigned char *
tls_get_session(struct tls *t, size_t *lenp)
{
	SSL_SESSION	*sess;
	unsigned char	*blob = NULL, *p;
	int		 n;

	*lenp = 0;
	if (t->server || !t->handshake_done)
		return NULL;
	if ((sess = SSL_get1_session(t->ssl)) == NULL)
		return NULL;
	if (SSL_SESSION_is_resumable(sess) != 1 ||
	    (n = i2d_SSL_SESSION(sess, NULL)) <= 0 ||
	    (blob = malloc((size_t)n)) == NULL)
		goto out;
	p = blob;
	if (i2d_SSL_SESSION(sess, &p) != n) {
		explicit_bzero(blob, (size_t)n);
		free(blob);
		blob = NULL;
		goto out;
	}
	*lenp = (size_t)n;
 out:
	SSL_SESSION_free(sess);
	ERR_clear_error();
	return blob;
}

void
tls_session_free(unsigned char *blob, size_t len)
{
	if (blob == NULL)
		return;
	explicit_bzero(blob, len);
	free(blob);
}

int
tls_set_session(struct tls *t, const unsigned char *blob, size_t len)
{
	SSL_SESSION		*sess;
	const unsigned char	*p = blob;
	int			 ret = -1;

	if (t->server || t->handshake_done || len == 0 || len > LONG_MAX) {
		conn_error(t, "cannot offer a session now");
		return -1;
	}
	ERR_clear_error();
	if ((sess = d2i_SSL_SESSION(NULL, &p, (long)len)) == NULL) {
		conn_error(t, "invalid session data");
		goto out;
	}
	if (SSL_set_session(t->ssl, sess) != 1) {
		conn_error(t, "cannot offer this session");
		goto out;
	}
	ret = 0;
 out:
	SSL_SESSION_free(sess);
	ERR_clear_error();
	return ret;
}
