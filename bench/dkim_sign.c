/*
 * CPU a DKIM signature costs (issue 17): dkim_sign_fd() of a 1 KiB
 * message, as the queue makes it on its pool, with a new Ed25519 key and
 * a new RSA-2048 key.  Run by hand: make bench-dkim (bench/RESULTS.md).
 *
 *	build/bench/dkim_sign [N]	N signatures of each (default 2000)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "server/queue/dkim.h"
#include "server/shared/config.h"

static double
cpu_seconds(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
write_key(const char *path, EVP_PKEY *k)
{
	FILE	*f;

	if (k == NULL || (f = fopen(path, "w")) == NULL ||
	    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fclose(f) != 0) {
		fprintf(stderr, "dkim_sign: cannot write %s\n", path);
		exit(1);
	}
	EVP_PKEY_free(k);
}

int
main(int argc, char *argv[])
{
	char			 dir[] = "/tmp/dkim_bench.XXXXXX", ed[64], rsa[64];
	char			 text[1024], conf[512], msg[1024], err[512];
	char			*sig;
	const char		*why, *doms[2] = { "ed.example", "rsa.example" };
	struct config		*c;
	struct dkim_keys	*ks;
	size_t			 len, n, i, d, hlen;
	double			 t0, t;
	int			 fd;

	n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	if (n == 0 || mkdtemp(dir) == NULL)
		return 1;
	snprintf(ed, sizeof(ed), "%s/ed.key", dir);
	snprintf(rsa, sizeof(rsa), "%s/rsa.key", dir);
	write_key(ed, EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	write_key(rsa, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
	snprintf(conf, sizeof(conf), "listen 127.0.0.1:2525 smtp\nspool /s\n"
	    "dkim-sign ed.example s %s\ndkim-sign rsa.example s %s\n", ed, rsa);
	if ((c = config_parse("bench.conf", conf, err, sizeof(err))) == NULL ||
	    (ks = dkim_keys_load(c, err, sizeof(err))) == NULL) {
		fprintf(stderr, "dkim_sign: %s\n", err);
		return 1;
	}
	for (d = 0; d < 2; d++) {
		/* 1024 octets: a usual header section, then body lines. */
		hlen = (size_t)snprintf(msg, sizeof(msg), "Received: from c.test "
		    "(c.test [127.0.0.1])\r\n\tby mx.test with ESMTPSA id "
		    "0123456789ABCDEF\r\n\tfor <bob@relay.example>; Wed, 2 Dec "
		    "2026 10:00:00 +0000\r\nFrom: Ann <ann@%s>\r\nTo: "
		    "bob@relay.example\r\nSubject: a benchmark message\r\n"
		    "Date: Wed, 2 Dec 2026 10:00:00 +0000\r\nMessage-ID: "
		    "<1.2.3@%s>\r\nMIME-Version: 1.0\r\nContent-Type: "
		    "text/plain; charset=utf-8\r\n\r\n", doms[d], doms[d]);
		for (i = hlen; i < sizeof(msg); i++)
			msg[i] = (i - hlen) % 64 == 62 ? '\r' :
			    (i - hlen) % 64 == 63 ? '\n' : (char)('a' + i % 26);
		snprintf(text, sizeof(text), "%s/msg", dir);
		if ((fd = open(text, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
		    write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
			return 1;
		t0 = cpu_seconds();
		for (i = 0; i < n; i++) {
			if ((sig = dkim_sign_fd(ks, fd, 0, sizeof(msg), time(NULL), &len,
			    &why)) == NULL) {
				fprintf(stderr, "dkim_sign: %s\n", why ? why :
				    "out of memory");
				return 1;
			}
			free(sig);
		}
		t = cpu_seconds() - t0;
		printf("%-8s %zu signatures of a %zu-octet message: "
		    "%.3f ms CPU each\n", d == 0 ? "ed25519" : "rsa-2048", n,
		    sizeof(msg), t * 1e3 / (double)n);
		close(fd);
		unlink(text);
	}
	dkim_keys_free(ks);
	config_free(c);
	unlink(ed);
	unlink(rsa);
	rmdir(dir);
	return 0;
}
