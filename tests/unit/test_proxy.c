/*
 * PROXY protocol v1/v2 parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "common/proxy.h"

struct v1case {
	const char	*in;
	int		 want;		/* >0 length, 0 more, -1 bad */
	int		 local;
	const char	*ip;
	unsigned	 port;
};

static const struct v1case v1cases[] = {
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO x\r\n", 44, 0,
	    "192.0.2.1", 56324 },
	{ "PROXY TCP6 2001:db8::1 2001:db8::2 1024 587\r\n", 45, 0,
	    "2001:db8::1", 1024 },
	{ "PROXY UNKNOWN\r\n", 15, 1, NULL, 0 },
	{ "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35, 1, NULL, 0 },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324", 0, 0, NULL, 0 },
	{ "PROX", 0, 0, NULL, 0 },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n", -1, 0, NULL, 0 },
	{ "PROXY TCP4 192.0.2.300 198.51.100.2 1 25\r\n", -1, 0, NULL, 0 },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", -1, 0, NULL, 0 },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 0123 25\r\n", -1, 0, NULL, 0 },
	{ "PROXY TCP4 2001:db8::1 198.51.100.2 1 25\r\n", -1, 0, NULL, 0 },
	{ "PROXY TCP5 192.0.2.1 198.51.100.2 1 25\r\n", -1, 0, NULL, 0 },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", -1, 0, NULL, 0 },
	{ "EHLO example.org\r\n", -1, 0, NULL, 0 },
	{ "GET / HTTP/1.1\r\n", -1, 0, NULL, 0 },
};

static void
test_v1(void **state)
{
	struct proxy_result	r;
	char			ip[64];
	size_t			i;
	int			n;

	for (i = 0; i < sizeof(v1cases) / sizeof(v1cases[0]); i++) {
		const struct v1case *c = &v1cases[i];

		n = proxy_parse(c->in, strlen(c->in), &r);
		assert_int_equal(n, c->want);
		if (n <= 0)
			continue;
		assert_int_equal(r.local, c->local);
		if (c->ip == NULL)
			continue;
		if (r.src.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&r.src;

			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
			assert_int_equal(ntohs(s4->sin_port), c->port);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&r.src;

			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			assert_int_equal(ntohs(s6->sin6_port), c->port);
		}
		assert_string_equal(ip, c->ip);
	}
}

static void
test_v1_too_long(void **state)
{
	char			buf[200];
	struct proxy_result	r;

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY ", 6);
	assert_int_equal(proxy_parse(buf, sizeof(buf), &r), -1);
	/* Every prefix of a valid header asks for more. */
	{
		const char	*h = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
		size_t		 i;

		for (i = 1; i < strlen(h); i++)
			assert_int_equal(proxy_parse(h, i, &r), 0);
		assert_int_equal(proxy_parse(h, strlen(h), &r),
		    (int)strlen(h));
	}
}

static const unsigned char sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static size_t
v2(unsigned char *b, int cmd, int fam, const void *addrs, size_t alen)
{
	memcpy(b, sig, 12);
	b[12] = (unsigned char)(0x20 | cmd);
	b[13] = (unsigned char)fam;
	b[14] = (unsigned char)(alen >> 8);
	b[15] = (unsigned char)alen;
	memcpy(b + 16, addrs, alen);
	return 16 + alen;
}

static void
test_v2(void **state)
{
	unsigned char		 b[600], a4[12] = { 192, 0, 2, 9, 198, 51,
				    100, 2, 0x30, 0x39, 0, 25 };
	unsigned char		 a6[36] = { 0 };
	struct proxy_result	 r;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&r.src;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&r.src;
	size_t			 n, i;

	n = v2(b, 1, 0x11, a4, sizeof(a4));
	assert_int_equal(proxy_parse(b, n, &r), (int)n);
	assert_int_equal(r.local, 0);
	assert_int_equal(s4->sin_family, AF_INET);
	assert_int_equal(ntohs(s4->sin_port), 12345);
	assert_int_equal(ntohl(s4->sin_addr.s_addr), 0xc0000209);
	for (i = 0; i < n; i++)
		assert_int_equal(proxy_parse(b, i, &r), 0);

	a6[15] = 1;
	a6[33] = 7;
	n = v2(b, 1, 0x21, a6, sizeof(a6));
	assert_int_equal(proxy_parse(b, n, &r), (int)n);
	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));

	n = v2(b, 0, 0x00, "", 0);			/* LOCAL */
	assert_int_equal(proxy_parse(b, n, &r), 16);
	assert_int_equal(r.local, 1);

	n = v2(b, 2, 0x11, a4, sizeof(a4));		/* bad command */
	assert_int_equal(proxy_parse(b, n, &r), -1);
	n = v2(b, 1, 0x11, a4, 4);			/* short address */
	assert_int_equal(proxy_parse(b, n, &r), -1);
	n = v2(b, 1, 0x31, a4, sizeof(a4));		/* AF_UNIX */
	assert_int_equal(proxy_parse(b, n, &r), -1);
	b[12] = 0x11;					/* version 1 */
	assert_int_equal(proxy_parse(b, n, &r), -1);
	v2(b, 1, 0x11, a4, sizeof(a4));
	b[14] = 0xff;					/* over our bound */
	assert_int_equal(proxy_parse(b, sizeof(b), &r), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_v1_too_long),
		cmocka_unit_test(test_v2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
