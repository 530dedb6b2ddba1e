/*
 * DKIM signing (RFC 6376, RFC 8463) on OpenSSL's EVP.  See dkim.h.
 *
 * Why not libopendkim: its dkim_sign() takes the private key as PEM text
 * and decodes it again for every message, which with OpenSSL 3's
 * decoders costs 0.4 ms of CPU a message for Ed25519 (more than the
 * signature itself, ten times over) and serialises the pool threads on
 * OpenSSL's provider locks.  Here each key is decoded once, when the
 * queue starts, and a message costs its hashing and one signature.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/base64.h"
#include "common/durable.h"
#include "common/log.h"
#include "server/queue/dkim.h"

#define READ_CHUNK	(64 * 1024)
#define SIG_MAX		1024		/* RSA up to 8192 bits */
#define FIELD_MAX	4096		/* the DKIM-Signature we make */
#define FOLD_AT		72

struct dkim_key {
	char		*domain;
	char		*selector;
	EVP_PKEY	*pkey;
	int		 ed25519;
};

struct dkim_keys {
	struct dkim_key	*k;
	size_t		 n;
	EVP_MD		*sha256;	/* fetched once: no lookup a message */
};

/* The fields signed (each instance, bottom up); From once more. */
static const char *const signed_fields[] = {
	"from", "sender", "reply-to", "to", "cc", "subject", "date",
	"message-id", "in-reply-to", "references", "mime-version",
	"content-type", "content-transfer-encoding", "list-id",
	"list-unsubscribe", "list-unsubscribe-post",
};
#define NSIGNED	(sizeof(signed_fields) / sizeof(signed_fields[0]))

/* One header field of the message, as it is there. */
struct field {
	const char	*p;
	size_t		 len;		/* without its last line end */
	size_t		 namelen;
};

static int	is_wsp(char c);
static int	name_is(const struct field *, const char *);
static const struct dkim_key *find_key(const struct dkim_keys *,
		    const char *);
static int	split_header(const char *, size_t, int, struct field **,
		    size_t *, size_t *);
static int	add(char *, size_t *, size_t, const char *, size_t);
static int	add_name(char *, size_t *, size_t, size_t *, const char *);
static int	sign(const struct dkim_key *, const unsigned char *, size_t,
		    unsigned char *, size_t *);
static void	emit_md(void *, const void *, size_t);

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Keys.
 */

struct dkim_keys *
dkim_keys_load(const struct config *conf, char *err, size_t errlen)
{
	struct dkim_keys	*ks;
	struct dkim_key		*k;
	const struct dkim_conf	*c;
	FILE			*f;
	size_t			 i;
	int			 bits;

	if ((ks = calloc(1, sizeof(*ks))) == NULL ||
	    (conf->ndkim > 0 && (ks->k = calloc(conf->ndkim,
	    sizeof(*ks->k))) == NULL) ||
	    (ks->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		(void)snprintf(err, errlen, "dkim-sign: out of memory");
		dkim_keys_free(ks);
		return NULL;
	}
	for (i = 0; i < conf->ndkim; i++) {
		c = &conf->dkim[i];
		k = &ks->k[ks->n];
		if ((f = fopen(c->keyfile, "re")) == NULL) {
			(void)snprintf(err, errlen, "%s:%u: dkim-sign: %s: %s",
			    conf->path, c->line, c->keyfile, strerror(errno));
			goto fail;
		}
		k->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		if (k->pkey == NULL) {
			(void)snprintf(err, errlen, "%s:%u: dkim-sign: %s: not "
			    "a PEM private key", conf->path, c->line,
			    c->keyfile);
			goto fail;
		}
		ks->n++;
		if (EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519)
			k->ed25519 = 1;
		else if (EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_RSA) {
			bits = EVP_PKEY_get_bits(k->pkey);
			if (bits < DKIM_RSA_MIN_BITS) {
				(void)snprintf(err, errlen, "%s:%u: dkim-sign: "
				    "%s: an RSA key of %d bits (at least %d "
				    "are needed)", conf->path, c->line,
				    c->keyfile, bits, DKIM_RSA_MIN_BITS);
				goto fail;
			}
		} else {
			(void)snprintf(err, errlen, "%s:%u: dkim-sign: %s: "
			    "neither an RSA nor an Ed25519 key", conf->path,
			    c->line, c->keyfile);
			goto fail;
		}
		if ((k->domain = strdup(c->domain)) == NULL ||
		    (k->selector = strdup(c->selector)) == NULL) {
			(void)snprintf(err, errlen, "dkim-sign: out of memory");
			goto fail;
		}
	}
	return ks;
fail:
	dkim_keys_free(ks);
	return NULL;
}

void
dkim_keys_free(struct dkim_keys *ks)
{
	size_t	i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->k[i].pkey);
		free(ks->k[i].domain);
		free(ks->k[i].selector);
	}
	free(ks->k);
	EVP_MD_free(ks->sha256);
	free(ks);
}

int
dkim_keys_check(const struct config *conf, char *err, size_t errlen)
{
	struct dkim_keys	*ks;

	if (conf->ndkim == 0)
		return 0;
	if ((ks = dkim_keys_load(conf, err, errlen)) == NULL)
		return -1;
	dkim_keys_free(ks);
	return 0;
}

size_t
dkim_keys_count(const struct dkim_keys *ks)
{
	return ks == NULL ? 0 : ks->n;
}

static const struct dkim_key *
find_key(const struct dkim_keys *ks, const char *domain)
{
	size_t	i;

	for (i = 0; i < ks->n; i++)
		if (strcmp(ks->k[i].domain, domain) == 0)
			return &ks->k[i];
	return NULL;
}

/*
 * Canonicalization.
 */

size_t
dkim_canon_header(const char *f, size_t len, char *out)
{
	size_t	i = 0, o = 0;
	int	wsp = 0, started = 0;
	char	c;

	/* The name, lower-cased, without white space before the colon. */
	for (; i < len && f[i] != ':'; i++) {
		c = f[i];
		if (is_wsp(c) || c == '\r' || c == '\n')
			continue;
		out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	if (i == len)
		return o;
	out[o++] = ':';
	i++;
	/* The value: unfolded, runs of WSP one SP, none at either end. */
	for (; i < len; i++) {
		c = f[i];
		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			wsp = 1;
			continue;
		}
		if (wsp && started)
			out[o++] = ' ';
		wsp = 0;
		started = 1;
		out[o++] = c;
	}
	return o;
}

void
dkim_body_init(struct dkim_body *b, dkim_emit emit, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->emit = emit;
	b->arg = arg;
}

void
dkim_body_update(struct dkim_body *b, const char *in, size_t len)
{
	static const char	crlf[] = "\r\n\r\n\r\n\r\n";
	const char		*run;
	size_t			 i, n;
	char			 c;

	run = NULL;
	for (i = 0; i < len; i++) {
		c = in[i];
		if (b->cr) {
			b->cr = 0;
			b->blank++;
			b->wsp = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n' || is_wsp(c)) {
			if (run != NULL) {
				b->emit(b->arg, run, (size_t)(in + i - run));
				run = NULL;
			}
			if (c == '\r')
				b->cr = 1;
			else if (c == '\n') {
				b->blank++;
				b->wsp = 0;
			} else
				b->wsp = 1;
			continue;
		}
		if (run == NULL) {
			/* Held line ends and space count only before text. */
			for (; b->blank > 0; b->blank -= n) {
				n = b->blank < 4 ? b->blank : 4;
				b->emit(b->arg, crlf, 2 * n);
			}
			if (b->wsp)
				b->emit(b->arg, " ", 1);
			b->wsp = 0;
			b->any = 1;
			run = in + i;
		}
	}
	if (run != NULL)
		b->emit(b->arg, run, (size_t)(in + len - run));
}

void
dkim_body_final(struct dkim_body *b)
{
	/* The empty lines at the end go; the last line keeps its end. */
	if (b->any)
		b->emit(b->arg, "\r\n", 2);
	b->blank = 0;
	b->cr = b->wsp = 0;
}

/*
 * The From domain: the one address of the field, outside comments and
 * quoted strings; the angle address if there is one.
 */
int
dkim_from_domain(const char *v, size_t len, char *out, size_t outlen)
{
	char		 addr[512];
	size_t		 i, n = 0, depth = 0;
	int		 quoted = 0, angle = 0, angles = 0;
	const char	*at;
	char		 c;

	for (i = 0; i < len; i++) {
		c = v[i];
		if (quoted) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '"') {
				quoted = 0;
				/* A quoted local part stands for itself. */
				if (n + 1 >= sizeof(addr))
					return -1;
				addr[n++] = 'q';
			}
			continue;
		}
		if (depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		switch (c) {
		case '"':
			quoted = 1;
			continue;
		case '(':
			depth = 1;
			continue;
		case ',':
		case ';':
		case ':':
			return -1;	/* a list or a group */
		case '<':
			if (angles++ > 0)
				return -1;
			angle = 1;
			n = 0;
			continue;
		case '>':
			if (!angle)
				return -1;
			angle = 0;
			continue;
		default:
			break;
		}
		if (is_wsp(c) || c == '\r' || c == '\n')
			continue;
		/* Text after an angle address is a second address. */
		if (angles > 0 && !angle)
			return -1;
		if (n + 1 >= sizeof(addr))
			return -1;
		addr[n++] = c;
	}
	if (quoted || depth > 0 || angle)
		return -1;
	addr[n] = '\0';
	if ((at = strrchr(addr, '@')) == NULL || at[1] == '\0' ||
	    at == addr || strlen(at + 1) >= outlen)
		return -1;
	for (i = 0, at++; at[i] != '\0'; i++) {
		c = at[i];
		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[i] = '\0';
	/* A trailing dot names the same domain. */
	if (i > 1 && out[i - 1] == '.')
		out[i - 1] = '\0';
	return 0;
}

/*
 * Signing.
 */

static int
name_is(const struct field *f, const char *name)
{
	size_t	i, n = strlen(name);
	char	c;

	if (f->namelen != n)
		return 0;
	for (i = 0; i < n; i++) {
		c = f->p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return 0;
	}
	return 1;
}

/*
 * The fields of the header section at buf, up to the empty line (or the
 * end of the message: eof says buf holds all of it).  *hlen: where the
 * body starts.  0, or -1 (cut short by the buffer, a line that is no
 * field, or no memory).
 */
static int
split_header(const char *buf, size_t len, int eof, struct field **out,
    size_t *nout, size_t *hlen)
{
	struct field	*fs = NULL, *nf;
	size_t		 n = 0, cap = 0, i = 0, start, eol, next, k;

	for (;;) {
		start = i;
		if (start == len) {
			if (!eof)
				goto fail;
			*hlen = len;
			break;
		}
		/* A field: lines until one that does not start with WSP. */
		for (;;) {
			while (i < len && buf[i] != '\r' && buf[i] != '\n')
				i++;
			eol = next = i;
			if (i < len) {
				next = i + 1;
				if (buf[i] == '\r' && next < len &&
				    buf[next] == '\n')
					next++;
				else if (buf[i] == '\r' && next == len && !eof)
					goto fail;	/* is an LF next? */
			}
			if (eol == start)
				break;
			if (next == len && !eof)
				goto fail;
			if (next < len && is_wsp(buf[next])) {
				i = next;
				continue;
			}
			break;
		}
		if (eol == start) {
			*hlen = next;	/* the empty line */
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			if ((nf = reallocarray(fs, cap, sizeof(*fs))) == NULL)
				goto fail;
			fs = nf;
		}
		fs[n].p = buf + start;
		fs[n].len = eol - start;
		for (k = 0; k < fs[n].len && buf[start + k] != ':'; k++)
			;
		if (k == fs[n].len)
			goto fail;	/* a line that is no field */
		while (k > 0 && is_wsp(buf[start + k - 1]))
			k--;
		fs[n].namelen = k;
		n++;
		i = next;
	}
	*out = fs;
	*nout = n;
	return 0;
fail:
	free(fs);
	return -1;
}

static void
emit_md(void *arg, const void *p, size_t len)
{
	EVP_DigestUpdate(arg, p, len);
}

/* Appends to a fixed buffer; 0, or -1 when it does not fit. */
static int
add(char *buf, size_t *len, size_t cap, const char *s, size_t n)
{
	if (n >= cap - *len)
		return -1;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

/* One more name in h=, folded before it would pass FOLD_AT. */
static int
add_name(char *buf, size_t *len, size_t cap, size_t *linelen,
    const char *name)
{
	size_t	n = strlen(name);

	if (buf[*len - 1] != '=') {
		if (*linelen + n + 1 > FOLD_AT) {
			if (add(buf, len, cap, ":\r\n\t", 4) == -1)
				return -1;
			*linelen = 1;
		} else {
			if (add(buf, len, cap, ":", 1) == -1)
				return -1;
			*linelen += 1;
		}
	}
	*linelen += n;
	return add(buf, len, cap, name, n);
}

/*
 * The signature of the SHA-256 digest of the signed data: RSASSA-PKCS1-
 * v1_5 with SHA-256, or Ed25519 over the digest itself (RFC 8463 3).
 */
static int
sign(const struct dkim_key *key, const unsigned char *digest, size_t dlen,
    unsigned char *sig, size_t *siglen)
{
	EVP_MD_CTX	*mctx;
	EVP_PKEY_CTX	*pctx;
	int		 ok;

	if (key->ed25519) {
		if ((mctx = EVP_MD_CTX_new()) == NULL)
			return -1;
		ok = EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL,
		    key->pkey, NULL) == 1 &&
		    EVP_DigestSign(mctx, sig, siglen, digest, dlen) == 1;
		EVP_MD_CTX_free(mctx);
		return ok ? 0 : -1;
	}
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)) == NULL)
		return -1;
	ok = EVP_PKEY_sign_init(pctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(pctx, sig, siglen, digest, dlen) == 1;
	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : -1;
}

char *
dkim_sign_fd(const struct dkim_keys *ks, int fd, off_t off, off_t end,
    time_t now, size_t *outlen, const char **why)
{
	const struct dkim_key	*key;
	struct field		*fs = NULL;
	struct dkim_body	 body;
	EVP_MD_CTX		*md = NULL;
	unsigned char		 bh[EVP_MAX_MD_SIZE], digest[EVP_MAX_MD_SIZE];
	unsigned char		 sig[SIG_MAX];
	unsigned int		 bhlen, dlen;
	char			*buf = NULL, *canon = NULL, *out = NULL;
	char			 dom[256], b64[BASE64_ENCODED_SIZE(SIG_MAX)];
	char			 field[FIELD_MAX];
	size_t			 have = 0, hlen, nfs, i, j, nfrom = 0, from = 0;
	size_t			 flen = 0, linelen, clen, siglen, b64len;
	ssize_t			 r;
	int			 eof = 0;

	*why = NULL;
	*outlen = 0;
	if (ks == NULL || ks->n == 0) {
		*why = "no key for the From domain";
		return NULL;
	}
	if ((buf = malloc(DKIM_HEADER_MAX)) == NULL)
		return NULL;
	while (have < DKIM_HEADER_MAX && !eof) {
		r = pread_upto(fd, buf + have, DKIM_HEADER_MAX - have,
		    off + (off_t)have, end);
		if (r == -1) {
			*why = "cannot read the message";
			goto out;
		}
		if (r == 0)
			eof = 1;
		have += (size_t)r;
	}
	if (split_header(buf, have, eof, &fs, &nfs, &hlen) == -1) {
		*why = eof ? "a header section it cannot parse" :
		    "a header section too long to sign";
		goto out;
	}
	for (i = 0; i < nfs; i++)
		if (name_is(&fs[i], "from")) {
			nfrom++;
			from = i;
		}
	if (nfrom != 1) {
		*why = nfrom == 0 ? "no From field" : "more than one From field";
		goto out;
	}
	if (dkim_from_domain(fs[from].p + fs[from].namelen + 1,
	    fs[from].len - fs[from].namelen - 1, dom, sizeof(dom)) == -1) {
		*why = "no single address in From";
		goto out;
	}
	if ((key = find_key(ks, dom)) == NULL) {
		*why = "no key for the From domain";
		goto out;
	}

	/* The body hash. */
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, ks->sha256, NULL) != 1)
		goto out;
	dkim_body_init(&body, emit_md, md);
	dkim_body_update(&body, buf + hlen, have - hlen);
	while (!eof) {
		r = pread_upto(fd, buf, READ_CHUNK, off + (off_t)have, end);
		if (r == -1) {
			*why = "cannot read the message";
			goto out;
		}
		if (r == 0)
			break;
		have += (size_t)r;
		dkim_body_update(&body, buf, (size_t)r);
	}
	dkim_body_final(&body);
	if (EVP_DigestFinal_ex(md, bh, &bhlen) != 1)
		goto out;

	/* The field without b=, and the list of the fields it signs. */
	if (base64_encode(bh, bhlen, b64, sizeof(b64), &b64len) == -1)
		goto out;
	flen = (size_t)snprintf(field, sizeof(field), "DKIM-Signature: v=1; "
	    "a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n\tt=%lld; bh=%s;\r\n\th=",
	    key->ed25519 ? "ed25519-sha256" : "rsa-sha256", key->domain,
	    key->selector, (long long)now, b64);
	if (flen >= sizeof(field))
		goto out;
	linelen = 3;
	if ((canon = malloc(DKIM_HEADER_MAX + 1)) == NULL ||
	    EVP_DigestInit_ex(md, ks->sha256, NULL) != 1)
		goto out;
	/* Each instance bottom up (RFC 6376 5.4.2). */
	for (j = 0; j < NSIGNED; j++)
		for (i = nfs; i > 0; i--) {
			if (!name_is(&fs[i - 1], signed_fields[j]))
				continue;
			if (add_name(field, &flen, sizeof(field), &linelen,
			    signed_fields[j]) == -1)
				goto toolong;
			clen = dkim_canon_header(fs[i - 1].p, fs[i - 1].len,
			    canon);
			EVP_DigestUpdate(md, canon, clen);
			EVP_DigestUpdate(md, "\r\n", 2);
		}
	/* From once more: no From can be added above ours (5.4.2). */
	if (add_name(field, &flen, sizeof(field), &linelen, "from") == -1 ||
	    add(field, &flen, sizeof(field), ";\r\n\tb=", 6) == -1)
		goto toolong;
	/* The field itself, relaxed, without its line end. */
	clen = dkim_canon_header(field, flen, canon);
	EVP_DigestUpdate(md, canon, clen);
	siglen = sizeof(sig);
	if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 ||
	    sign(key, digest, dlen, sig, &siglen) == -1) {
		*why = "the signature failed";
		goto out;
	}
	if (base64_encode(sig, siglen, b64, sizeof(b64), &b64len) == -1)
		goto out;
	linelen = 3;
	for (i = 0; i < b64len; i += j) {
		j = b64len - i < FOLD_AT - linelen ? b64len - i :
		    FOLD_AT - linelen;
		if (add(field, &flen, sizeof(field), b64 + i, j) == -1)
			goto toolong;
		if (i + j < b64len && add(field, &flen, sizeof(field),
		    "\r\n\t", 3) == -1)
			goto toolong;
		linelen = 1;
	}
	if (add(field, &flen, sizeof(field), "\r\n", 2) == -1)
		goto toolong;
	if ((out = malloc(flen + 1)) == NULL)
		goto out;
	memcpy(out, field, flen + 1);
	*outlen = flen;
	goto out;
toolong:
	*why = "too many fields to sign";
out:
	EVP_MD_CTX_free(md);
	free(fs);
	free(canon);
	free(buf);
	return out;
}

char *
dkim_sign_spooled(const struct dkim_keys *ks, const struct config *conf,
    const struct envelope *env, int fd, off_t off, off_t end, int flush,
    time_t now, size_t *len)
{
	const char	*why;
	char		*sig;
	size_t		 i;

	*len = 0;
	if (dkim_keys_count(ks) == 0 ||
	    (env->auth[0] == '\0' && !conf->dkim_sign_all))
		return NULL;
	for (i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].remote &&
		    env->rcpts[i].done == RCPT_PENDING &&
		    (flush || env->rcpts[i].next_try <= now))
			break;
	if (i == env->nrcpts)
		return NULL;	/* nothing leaves now */
	if ((sig = dkim_sign_fd(ks, fd, off, end, now, len, &why)) == NULL) {
		if (why == NULL)
			log_warnx("id=%s dkim: out of memory: sent unsigned",
			    env->id);
		else
			log_info("id=%s dkim: not signed: %s", env->id, why);
	}
	return sig;
}
