/*
 * Unit tests for src/server/queue/dkim.c: relaxed canonicalization of
 * header fields and bodies (RFC 6376 3.4.2, 3.4.4, the example of 3.4.5),
 * fed whole and an octet at a time; the From domain; the keys a
 * configuration names; the shape of a signature field.  That signatures
 * verify is tested end to end (tests/e2e/test_dkim.py, dkimpy and
 * OpenDKIM).
 */
#include <sys/types.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "server/queue/dkim.h"
#include "server/shared/config.h"

struct out {
	char	buf[4096];
	size_t	len;
};

static void
collect(void *arg, const void *p, size_t len)
{
	struct out	*o = arg;

	assert_true(o->len + len < sizeof(o->buf));
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	o->buf[o->len] = '\0';
}

static void
header_is(const char *in, const char *want)
{
	char	out[1024];
	size_t	n;

	n = dkim_canon_header(in, strlen(in), out);
	out[n] = '\0';
	assert_string_equal(out, want);
}

/* The same result whole, an octet at a time, and in two halves. */
static void
body_is(const char *in, size_t len, const char *want, size_t wantlen)
{
	struct dkim_body	b;
	struct out		o;
	size_t			i;

	for (int how = 0; how < 3; how++) {
		memset(&o, 0, sizeof(o));
		dkim_body_init(&b, collect, &o);
		if (how == 0)
			dkim_body_update(&b, in, len);
		else if (how == 1)
			for (i = 0; i < len; i++)
				dkim_body_update(&b, in + i, 1);
		else {
			dkim_body_update(&b, in, len / 2);
			dkim_body_update(&b, in + len / 2, len - len / 2);
		}
		dkim_body_final(&b);
		assert_int_equal(o.len, wantlen);
		assert_memory_equal(o.buf, want, wantlen);
	}
}

#define BODY(in, want)	body_is(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void
test_header(void **state)
{
	(void)state;
	/* RFC 6376 3.4.5. */
	header_is("A: X", "a:X");
	header_is("B : Y\t\r\n\tZ  ", "b:Y Z");
	header_is("Subject  :  a  b \t c  ", "subject:a b c");
	header_is("To: a,\r\n\tb,\r\n   c", "to:a, b, c");
	header_is("X-A:\r\n b", "x-a:b");
	header_is("Subject: a: b", "subject:a: b");
	header_is("Subject: a:  b", "subject:a: b");
	header_is("X:", "x:");
	header_is("X:   ", "x:");
	/* Folded with a bare LF or CR, as the relay sends them: CRLF. */
	header_is("A: x\n y", "a:x y");
	header_is("A: x\r y", "a:x y");
	header_is("Content-TYPE: text/plain; charset=\"UTF-8\"",
	    "content-type:text/plain; charset=\"UTF-8\"");
	/* 8-bit octets in a value are kept as they are. */
	header_is("Subject: Gr\xc3\xbc\xc3\x9f""e", "subject:Gr\xc3\xbc\xc3\x9f""e");
}

static void
test_body(void **state)
{
	(void)state;
	/* RFC 6376 3.4.5. */
	BODY(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
	BODY("", "");
	BODY("\r\n", "");
	BODY("\r\n\r\n\r\n", "");
	BODY("  \t\r\n \r\n", "");
	BODY("a", "a\r\n");
	BODY("a\r\n", "a\r\n");
	BODY("a  b \t\r\n\r\n\r\n", "a b\r\n");
	BODY("a\r\n \r\nb\r\n", "a\r\n\r\nb\r\n");
	BODY("a\r\n\r\n\r\n\r\n\r\n\r\n\r\nb", "a\r\n\r\n\r\n\r\n\r\n\r\n\r\nb\r\n");
	BODY("\r\n\r\nx", "\r\n\r\nx\r\n");
	/* Dots are the message's own (the relay stuffs them later). */
	BODY(".\r\n..x\r\n", ".\r\n..x\r\n");
	/* Bare CR and bare LF end lines, as the relay sends them. */
	BODY("a\rb", "a\r\nb\r\n");
	BODY("a\nb\n\n", "a\r\nb\r\n");
	BODY("a\r", "a\r\n");
	BODY("a \r \r\n", "a\r\n");
	BODY("a\r\r\nb", "a\r\n\r\nb\r\n");
	BODY("\tx \t y\t", " x y\r\n");
	/* 8-bit and NUL octets pass untouched. */
	BODY("\xff\xfe \x80\r\n\x00z", "\xff\xfe \x80\r\n\x00z\r\n");
}

static void
domain_is(const char *v, const char *want)
{
	char	out[256];
	int	r;

	r = dkim_from_domain(v, strlen(v), out, sizeof(out));
	if (want == NULL) {
		assert_int_equal(r, -1);
		return;
	}
	assert_int_equal(r, 0);
	assert_string_equal(out, want);
}

static void
test_from_domain(void **state)
{
	(void)state;
	domain_is(" user@Example.ORG", "example.org");
	domain_is(" A <user@example.org>", "example.org");
	domain_is(" \"Ann, <x@evil.example>\" <user@example.org> (c@d)",
	    "example.org");
	domain_is(" (a, b) user@example.org", "example.org");
	domain_is(" user@example.org.", "example.org");
	domain_is(" =?utf-8?q?=C3=A9?= <u@example.net>", "example.net");
	domain_is(" \"a@b\"@example.org", "example.org");
	domain_is(" a@example.org,\r\n b@example.org", NULL);
	domain_is(" <a@example.org> <b@example.org>", NULL);
	domain_is(" <a@example.org> b@example.org", NULL);
	domain_is(" undisclosed-recipients:;", NULL);
	domain_is(" <>", NULL);
	domain_is(" user", NULL);
	domain_is(" user@", NULL);
	domain_is(" \"unterminated <a@b.c>", NULL);
	domain_is(" (unterminated <a@b.c>", NULL);
	domain_is(" <a@b.c", NULL);
	domain_is("", NULL);
}

/* A key file written by OpenSSL; the path is in buf. */
static void
write_key(char *path, size_t len, const char *type)
{
	EVP_PKEY	*k;
	FILE		*f;
	int		 fd;

	snprintf(path, len, "/tmp/test_dkim.XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	k = strcmp(type, "RSA") == 0 ?
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) :
	    EVP_PKEY_Q_keygen(NULL, NULL, type);
	assert_non_null(k);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL,
	    NULL), 1);
	EVP_PKEY_free(k);
	assert_int_equal(fclose(f), 0);
}

static struct config *
conf_with(const char *lines)
{
	char		 text[2048], err[512];
	struct config	*c;

	snprintf(text, sizeof(text), "listen 127.0.0.1:2525 smtp\n"
	    "spool /var/spool/smtpauthd\n%s", lines);
	c = config_parse("t.conf", text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

static int
msgfile(const char *text)
{
	char	path[] = "/tmp/test_dkim_msg.XXXXXX";
	int	fd;

	assert_true((fd = mkstemp(path)) != -1);
	unlink(path);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

/* Where fd's file ends. */
static off_t
fend(int fd)
{
	off_t	end = lseek(fd, 0, SEEK_END);

	assert_true(end >= 0);
	return end;
}

/* Messages that are not signed, and the reason given. */
static const char *const unsigned_msgs[][2] = {
	{ "From: x@sub.example.org\r\n\r\nbody\r\n",
	    "no key for the From domain" },
	{ "From: x@example.org\r\nFrom: y@example.org\r\n\r\n",
	    "more than one From field" },
	{ "Subject: x\r\n\r\nFrom: x@example.org\r\n", "no From field" },
	{ "From: x@example.org\r\nnot a field\r\n\r\n",
	    "a header section it cannot parse" },
	{ "From: <>\r\n\r\n", "no single address in From" },
};

static void
test_sign_shape(void **state)
{
	struct config		*c;
	struct dkim_keys	*ks;
	char			 ed[64], rsa[64], lines[512], err[512], *sig, *p;
	const char		*why;
	size_t			 len, i;
	int			 fd;

	(void)state;
	write_key(ed, sizeof(ed), "ED25519");
	write_key(rsa, sizeof(rsa), "RSA");
	snprintf(lines, sizeof(lines), "dkim-sign Example.org s1 %s\n"
	    "dkim-sign example.net s2 %s\n", ed, rsa);
	c = conf_with(lines);
	assert_int_equal(c->ndkim, 2);
	assert_string_equal(c->dkim[0].domain, "example.org");
	assert_int_equal(c->dkim_sign_all, 0);
	assert_non_null(ks = dkim_keys_load(c, err, sizeof(err)));
	assert_int_equal(dkim_keys_count(ks), 2);

	fd = msgfile("Received: from x\r\n\tby y\r\n"
	    "From: A <a@EXAMPLE.org>\r\nTo: b@c\r\nTo: d@e\r\n"
	    "Subject: s\r\n\r\nbody\r\n");
	sig = dkim_sign_fd(ks, fd, 0, fend(fd), 1700000000, &len, &why);
	close(fd);
	assert_non_null(sig);
	assert_int_equal(strlen(sig), len);
	assert_true(strncmp(sig, "DKIM-Signature: v=1; a=ed25519-sha256; "
	    "c=relaxed/relaxed; d=example.org; s=s1;\r\n\tt=1700000000; "
	    "bh=", strlen("DKIM-Signature: v=1; a=ed25519-sha256; "
	    "c=relaxed/relaxed; d=example.org; s=s1;\r\n\tt=1700000000; "
	    "bh=")) == 0);
	assert_non_null(strstr(sig, "h=from:to:to:subject:from;"));
	assert_null(strstr(sig, "received"));
	assert_int_equal(memcmp(sig + len - 2, "\r\n", 2), 0);
	/* No line longer than 78 octets; every CR is a CRLF + tab. */
	for (p = sig; (p = strchr(p, '\r')) != NULL; p++)
		assert_true(p[1] == '\n' && (p[2] == '\t' || p[2] == '\0'));
	for (p = sig; *p != '\0'; p = strchr(p, '\n') + 1)
		assert_true(strchr(p, '\n') - p <= 79);
	free(sig);

	/* RSA for the other domain. */
	fd = msgfile("From: x@example.net\r\n\r\n");
	assert_non_null(sig = dkim_sign_fd(ks, fd, 0, fend(fd), 1, &len, &why));
	close(fd);
	assert_non_null(strstr(sig, "a=rsa-sha256; c=relaxed/relaxed; "
	    "d=example.net; s=s2;"));
	free(sig);

	/* Not signed, and why. */
	for (i = 0; i < sizeof(unsigned_msgs) / sizeof(unsigned_msgs[0]);
	    i++) {
		fd = msgfile(unsigned_msgs[i][0]);
		assert_null(dkim_sign_fd(ks, fd, 0, fend(fd), 1, &len, &why));
		assert_non_null(why);
		assert_string_equal(why, unsigned_msgs[i][1]);
		close(fd);
	}
	/* Headers only, without the empty line, are signed. */
	fd = msgfile("From: x@example.org\r\nSubject: y");
	assert_non_null(sig = dkim_sign_fd(ks, fd, 0, fend(fd), 1, &len, &why));
	free(sig);
	close(fd);
	/* Only to end: what follows it in the file is not signed. */
	{
		char	*sig2;
		size_t	 len2;
		off_t	 end;

		fd = msgfile("From: x@example.org\r\n\r\nbody\r\n");
		end = fend(fd);
		assert_non_null(sig = dkim_sign_fd(ks, fd, 0, end, 1, &len,
		    &why));
		assert_int_equal(pwrite(fd, "tail\r\n", 6, end), 6);
		assert_non_null(sig2 = dkim_sign_fd(ks, fd, 0, end, 1, &len2,
		    &why));
		assert_int_equal(len, len2);
		assert_memory_equal(sig, sig2, len);
		free(sig2);
		/* An end past the file's: not signed, not read as shorter. */
		assert_null(dkim_sign_fd(ks, fd, 0, end + 100, 1, &len2,
		    &why));
		free(sig);
		close(fd);
	}

	dkim_keys_free(ks);
	config_free(c);
	unlink(ed);
	unlink(rsa);
}

static void
test_keys_refused(void **state)
{
	struct config	*c;
	char		 ec[64], lines[512], err[512];

	(void)state;
	write_key(ec, sizeof(ec), "X25519");
	snprintf(lines, sizeof(lines), "dkim-sign example.org s1 %s\n", ec);
	c = conf_with(lines);
	assert_null(dkim_keys_load(c, err, sizeof(err)));
	assert_non_null(strstr(err, "t.conf:3: dkim-sign: "));
	assert_non_null(strstr(err, "neither an RSA nor an Ed25519 key"));
	assert_int_equal(dkim_keys_check(c, err, sizeof(err)), -1);
	config_free(c);
	unlink(ec);

	c = conf_with("dkim-sign example.org s1 /nonexistent/k\n");
	assert_null(dkim_keys_load(c, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	config_free(c);

	/* No dkim-sign line: nothing to check, nothing signed. */
	c = conf_with("dkim-sign-all yes\n");
	assert_int_equal(c->dkim_sign_all, 1);
	assert_int_equal(dkim_keys_check(c, err, sizeof(err)), 0);
	config_free(c);
}

static void
test_config_errors(void **state)
{
	char		 text[512], err[512];
	const char	*bad[][2] = {
		{ "dkim-sign example.org s1\n", "t.conf:3: dkim-sign: missing "
		    "argument" },
		{ "dkim-sign ex_ample.org s1 k\n", "t.conf:3: dkim-sign: bad "
		    "domain \"ex_ample.org\"" },
		{ "dkim-sign example.org s_1 k\n", "t.conf:3: dkim-sign: bad "
		    "selector \"s_1\"" },
		{ "dkim-sign example.org a k\ndkim-sign EXAMPLE.ORG b k\n",
		    "t.conf:4: dkim-sign: EXAMPLE.ORG already has a key on "
		    "line 3" },
		{ "dkim-sign-all maybe\n", "t.conf:3: dkim-sign-all: " },
	};
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "listen 127.0.0.1:2525 smtp\n"
		    "spool /s\n%s", bad[i][0]);
		assert_null(config_parse("t.conf", text, err, sizeof(err)));
		if (strncmp(err, bad[i][1], strlen(bad[i][1])) != 0)
			fail_msg("%s: got \"%s\"", bad[i][0], err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_sign_shape),
		cmocka_unit_test(test_keys_refused),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
