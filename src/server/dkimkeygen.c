/*
 * smtpauthd dkim-keygen: see dkimkeygen.h and smtpauthd(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/base64.h"
#include "server/dkimkeygen.h"

#define RSA_BITS	2048
#define PUB_MAX		1024	/* DER of an RSA-4096 public key fits */
#define TXT_CHUNK	255	/* octets of one DNS character-string */

static int	valid_name(const char *);
static int	txt_of_key(EVP_PKEY *, const char *, const char *, char *,
		    size_t);
static void	keygen_usage(void);

static void
keygen_usage(void)
{
	fprintf(stderr, "usage: smtpauthd dkim-keygen [--ed25519] [-o file] "
	    "domain selector\n"
	    "  --ed25519  an Ed25519 key (RFC 8463); default RSA, 2048 bits\n"
	    "  -o file    where the private key goes (default "
	    "selector.domain.key\n"
	    "             in the current directory); never overwritten\n");
}

/* Letters, digits, '-' and '.': a domain or a selector. */
static int
valid_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

/*
 * SELECTOR._domainkey.DOMAIN. IN TXT "v=DKIM1; k=...; p=..." with p=
 * split into strings of at most 255 octets, as zone files want them.
 */
static int
txt_of_key(EVP_PKEY *pkey, const char *domain, const char *selector,
    char *out, size_t outlen)
{
	unsigned char	 pub[PUB_MAX], *pp = pub;
	char		 rec[BASE64_ENCODED_SIZE(PUB_MAX) + 64];
	size_t		 publen = sizeof(pub), reclen, i, n, o;
	int		 len, ed = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;

	if (ed) {
		/* RFC 8463 4.2: the raw 32 octets, not an SPKI. */
		if (EVP_PKEY_get_raw_public_key(pkey, pub, &publen) != 1)
			return -1;
	} else {
		if ((len = i2d_PUBKEY(pkey, NULL)) <= 0 || len > PUB_MAX ||
		    i2d_PUBKEY(pkey, &pp) != len)
			return -1;
		publen = (size_t)len;
	}
	o = (size_t)snprintf(rec, sizeof(rec), "v=DKIM1; k=%s; p=",
	    ed ? "ed25519" : "rsa");
	if (base64_encode(pub, publen, rec + o, sizeof(rec) - o, &n) == -1)
		return -1;
	reclen = o + n;
	o = (size_t)snprintf(out, outlen, "%s._domainkey.%s. IN TXT",
	    selector, domain);
	for (i = 0; i < reclen && o < outlen; i += n) {
		n = reclen - i < TXT_CHUNK ? reclen - i : TXT_CHUNK;
		o += (size_t)snprintf(out + o, outlen - o, " \"%.*s\"", (int)n,
		    rec + i);
	}
	return o < outlen ? 0 : -1;
}

int
dkim_txt_record(const char *path, const char *domain, const char *selector,
    char *out, size_t outlen, char *err, size_t errlen)
{
	EVP_PKEY	*pkey;
	FILE		*f;
	int		 r;

	if ((f = fopen(path, "re")) == NULL) {
		(void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL) {
		(void)snprintf(err, errlen, "%s: not a PEM private key", path);
		return -1;
	}
	r = txt_of_key(pkey, domain, selector, out, outlen);
	EVP_PKEY_free(pkey);
	if (r == -1)
		(void)snprintf(err, errlen, "%s: cannot encode its public key",
		    path);
	return r;
}

int
dkim_keygen_main(int argc, char *argv[])
{
	EVP_PKEY	*pkey;
	BIO		*bio;
	const char	*domain, *selector, *path = NULL;
	char		 defpath[600], txt[2048], *pem;
	long		 pemlen;
	int		 i, ed = 0, fd, ok;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--ed25519") == 0)
			ed = 1;
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			keygen_usage();
			return 0;
		} else {
			keygen_usage();
			return 2;
		}
	}
	if (argc - i != 2) {
		keygen_usage();
		return 2;
	}
	domain = argv[i];
	selector = argv[i + 1];
	if (!valid_name(domain) || !valid_name(selector)) {
		fprintf(stderr, "smtpauthd: dkim-keygen: a domain and a "
		    "selector are letters, digits, '-' and '.'\n");
		return 2;
	}
	if (path == NULL) {
		(void)snprintf(defpath, sizeof(defpath), "%s.%s.key", selector,
		    domain);
		path = defpath;
	}
	pkey = ed ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") :
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS);
	if (pkey == NULL) {
		fprintf(stderr, "smtpauthd: dkim-keygen: cannot make a key\n");
		return 1;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
	    NULL) != 1 || (pemlen = BIO_get_mem_data(bio, &pem)) <= 0 ||
	    txt_of_key(pkey, domain, selector, txt, sizeof(txt)) == -1) {
		fprintf(stderr, "smtpauthd: dkim-keygen: cannot encode the "
		    "key\n");
		BIO_free(bio);
		EVP_PKEY_free(pkey);
		return 1;
	}
	EVP_PKEY_free(pkey);
	/* Never over an existing file: it may be the key in use. */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		fprintf(stderr, "smtpauthd: dkim-keygen: %s: %s\n", path,
		    strerror(errno));
		BIO_free(bio);
		return 1;
	}
	ok = write(fd, pem, (size_t)pemlen) == (ssize_t)pemlen;
	ok = fsync(fd) == 0 && ok;
	ok = close(fd) == 0 && ok;
	BIO_free(bio);	/* OpenSSL wipes what it frees (tls.h) */
	if (!ok) {
		fprintf(stderr, "smtpauthd: dkim-keygen: %s: %s\n", path,
		    strerror(errno));
		(void)unlink(path);
		return 1;
	}
	fprintf(stderr, "smtpauthd: private key written to %s; publish:\n",
	    path);
	printf("%s\n", txt);
	return 0;
}
