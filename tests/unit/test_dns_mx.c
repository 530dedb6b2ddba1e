/*
 * Unit tests for the pure parts of src/server/queue/dns.c: MX answers as they
 * come off the wire (normal, null MX, none, malformed) and the order the
 * hosts are tried in (by preference, equal ones shuffled).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/queue/dns.h"

struct pkt {
	unsigned char	b[2048];
	size_t		len;
};

static void
put16(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (unsigned char)(v >> 8);
	p->b[p->len++] = (unsigned char)v;
}

static void
put_name(struct pkt *p, const char *name)
{
	const char	*dot;
	size_t		 n;

	while (*name != '\0') {
		dot = strchr(name, '.');
		n = dot != NULL ? (size_t)(dot - name) : strlen(name);
		p->b[p->len++] = (unsigned char)n;
		memcpy(p->b + p->len, name, n);
		p->len += n;
		name += n;
		if (*name == '.')
			name++;
	}
	p->b[p->len++] = 0;
}

/* A response for "example.org MX" with n answers (pref, host). */
static void
answer(struct pkt *p, size_t n, const unsigned *prefs,
    const char *const *hosts)
{
	size_t	i, rdlen_at;

	memset(p, 0, sizeof(*p));
	put16(p, 0x1234);	/* id */
	put16(p, 0x8180);	/* response, RD, RA, NOERROR */
	put16(p, 1);		/* qdcount */
	put16(p, (unsigned)n);	/* ancount */
	put16(p, 0);
	put16(p, 0);
	put_name(p, "example.org");
	put16(p, 15);		/* MX */
	put16(p, 1);		/* IN */
	for (i = 0; i < n; i++) {
		put16(p, 0xc00c);	/* the question's name */
		put16(p, 15);
		put16(p, 1);
		put16(p, 0);
		put16(p, 300);		/* ttl */
		rdlen_at = p->len;
		put16(p, 0);
		put16(p, prefs[i]);
		put_name(p, hosts[i]);
		p->b[rdlen_at] = (unsigned char)((p->len - rdlen_at - 2) >> 8);
		p->b[rdlen_at + 1] = (unsigned char)(p->len - rdlen_at - 2);
	}
}

static void
test_parse_sorted(void **state)
{
	const unsigned		 prefs[] = { 20, 10, 30, 10 };
	const char *const	 hosts[] = { "b.example.org", "a1.example.org",
				    "c.example.org", "a2.example.org" };
	struct dns_mx		 mx[DNS_MX_MAX];
	struct pkt		 p;
	size_t			 n;

	answer(&p, 4, prefs, hosts);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, mx, DNS_MX_MAX, &n),
	    1);
	assert_int_equal(n, 4);
	assert_int_equal(mx[0].pref, 10);
	assert_int_equal(mx[1].pref, 10);
	assert_true(strncmp(mx[0].host, "a", 1) == 0);
	assert_true(strncmp(mx[1].host, "a", 1) == 0);
	assert_string_not_equal(mx[0].host, mx[1].host);
	assert_string_equal(mx[2].host, "b.example.org");
	assert_string_equal(mx[3].host, "c.example.org");
}

static void
test_parse_null_mx(void **state)
{
	const unsigned		 prefs[] = { 0 };
	const char *const	 hosts[] = { "" };
	const unsigned		 prefs2[] = { 0, 10 };
	const char *const	 hosts2[] = { "", "mx.example.org" };
	struct dns_mx		 mx[DNS_MX_MAX];
	struct pkt		 p;
	size_t			 n;

	answer(&p, 1, prefs, hosts);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, mx, DNS_MX_MAX, &n),
	    0);
	assert_int_equal(n, 0);
	/* Beside a real host the null MX is ignored (RFC 7505 3). */
	answer(&p, 2, prefs2, hosts2);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, mx, DNS_MX_MAX, &n),
	    1);
	assert_int_equal(n, 1);
	assert_string_equal(mx[0].host, "mx.example.org");
}

static void
test_parse_none_and_bad(void **state)
{
	const unsigned		 prefs[] = { 10, 10, 10 };
	const char *const	 hosts[] = { "mx.example.org",
				    "MX.example.org", "mx2.example.org" };
	struct dns_mx		 mx[DNS_MX_MAX];
	struct pkt		 p;
	size_t			 n, cut;

	answer(&p, 0, NULL, NULL);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, mx, DNS_MX_MAX, &n),
	    -2);
	/* The same host twice is tried once; max is respected. */
	answer(&p, 3, prefs, hosts);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, mx, DNS_MX_MAX, &n),
	    1);
	assert_int_equal(n, 2);
	assert_int_equal(dns_parse_mx(p.b, (int)p.len, mx, 1, &n), 1);
	assert_int_equal(n, 1);
	/* Every truncation of a good answer is refused or parsed, never
	 * read past. */
	for (cut = 0; cut < p.len; cut++) {
		int r = dns_parse_mx(p.b, (int)cut, mx, DNS_MX_MAX, &n);

		assert_true(r == -1 || r == -2 || r == 1);
	}
	assert_int_equal(dns_parse_mx(p.b, 5, mx, DNS_MX_MAX, &n), -1);
}

/* Preference order always; equal preferences in every order over time. */
static void
test_sort(void **state)
{
	struct dns_mx	mx[6];
	int		first_seen[3] = { 0, 0, 0 };
	size_t		i, round;

	for (round = 0; round < 300; round++) {
		memset(mx, 0, sizeof(mx));
		for (i = 0; i < 6; i++) {
			mx[i].pref = i < 3 ? 50 : (unsigned)(60 - i);
			snprintf(mx[i].host, sizeof(mx[i].host), "h%zu", i);
		}
		dns_sort_mx(mx, 6);
		assert_int_equal(mx[0].pref, 50);
		assert_int_equal(mx[2].pref, 50);
		assert_string_equal(mx[3].host, "h5");
		assert_string_equal(mx[4].host, "h4");
		assert_string_equal(mx[5].host, "h3");
		first_seen[mx[0].host[1] - '0']++;
		/* None lost, none doubled. */
		assert_string_not_equal(mx[0].host, mx[1].host);
		assert_string_not_equal(mx[1].host, mx[2].host);
		assert_string_not_equal(mx[0].host, mx[2].host);
	}
	for (i = 0; i < 3; i++)
		assert_true(first_seen[i] > 30);
	dns_sort_mx(mx, 0);
	dns_sort_mx(mx, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sorted),
		cmocka_unit_test(test_parse_null_mx),
		cmocka_unit_test(test_parse_none_and_bad),
		cmocka_unit_test(test_sort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
