/*
 * PROXY protocol v1/v2 receiver.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proxy.h"

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static int	parse_v1(const char *, size_t, struct proxy_result *);
static int	parse_v2(const unsigned char *, size_t,
		    struct proxy_result *);
static int	parse_port(const char *, uint16_t *);

static int
parse_port(const char *s, uint16_t *port)
{
	unsigned long	v = 0;
	size_t		i;

	if (s[0] == '\0' || strlen(s) > 5 || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int
parse_v1(const char *buf, size_t len, struct proxy_result *r)
{
	char		 line[PROXY_V1_MAX + 1], *f[7], *p, *save = NULL;
	const char	*crlf;
	size_t		 n, nf = 0;
	uint16_t	 sport, dport;
	struct in6_addr	 a6, d6;
	struct in_addr	 a4, d4;

	crlf = memchr(buf, '\n', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
	if (crlf == NULL)
		return len >= PROXY_V1_MAX ? -1 : 0;
	n = (size_t)(crlf - buf) + 1;
	if (n < 2 || buf[n - 2] != '\r')
		return -1;
	memcpy(line, buf, n - 2);
	line[n - 2] = '\0';
	if (memchr(line, '\0', n - 2) != NULL)
		return -1;
	for (p = strtok_r(line, " ", &save); p != NULL && nf < 7;
	    p = strtok_r(NULL, " ", &save))
		f[nf++] = p;
	if (nf < 2 || strcmp(f[0], "PROXY") != 0)
		return -1;
	memset(r, 0, sizeof(*r));
	if (strcmp(f[1], "UNKNOWN") == 0) {
		r->local = 1;
		return (int)n;
	}
	if (nf != 6 || parse_port(f[4], &sport) == -1 ||
	    parse_port(f[5], &dport) == -1)
		return -1;
	if (strcmp(f[1], "TCP4") == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&r->src;

		if (inet_pton(AF_INET, f[2], &a4) != 1 ||
		    inet_pton(AF_INET, f[3], &d4) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_addr = a4;
		sin->sin_port = htons(sport);
		r->srclen = sizeof(*sin);
	} else if (strcmp(f[1], "TCP6") == 0) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r->src;

		if (inet_pton(AF_INET6, f[2], &a6) != 1 ||
		    inet_pton(AF_INET6, f[3], &d6) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = a6;
		sin6->sin6_port = htons(sport);
		r->srclen = sizeof(*sin6);
	} else
		return -1;
	return (int)n;
}

static int
parse_v2(const unsigned char *b, size_t len, struct proxy_result *r)
{
	size_t	hlen;
	int	cmd, fam;

	if (len < 16)
		return 0;
	if ((b[12] & 0xf0) != 0x20)
		return -1;
	cmd = b[12] & 0x0f;
	fam = b[13];
	hlen = 16 + ((size_t)b[14] << 8 | b[15]);
	if (hlen > PROXY_V2_MAX)
		return -1;
	if (len < hlen)
		return 0;
	memset(r, 0, sizeof(*r));
	if (cmd == 0x0) {		/* LOCAL: a health check */
		r->local = 1;
		return (int)hlen;
	}
	if (cmd != 0x1)
		return -1;
	if (fam == 0x11) {		/* TCP over IPv4 */
		struct sockaddr_in *sin = (struct sockaddr_in *)&r->src;

		if (hlen < 16 + 12)
			return -1;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, b + 16, 4);
		memcpy(&sin->sin_port, b + 24, 2);
		r->srclen = sizeof(*sin);
	} else if (fam == 0x21) {	/* TCP over IPv6 */
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r->src;

		if (hlen < 16 + 36)
			return -1;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, b + 16, 16);
		memcpy(&sin6->sin6_port, b + 48, 2);
		r->srclen = sizeof(*sin6);
	} else if (fam == 0x00)		/* UNSPEC */
		r->local = 1;
	else
		return -1;
	return (int)hlen;
}

int
proxy_parse(const void *buf, size_t len, struct proxy_result *r)
{
	const unsigned char	*b = buf;
	size_t			 n = len < sizeof(v2sig) ? len : sizeof(v2sig);

	if (len == 0)
		return 0;
	if (memcmp(b, v2sig, n) == 0)
		return len < sizeof(v2sig) ? 0 : parse_v2(b, len, r);
	n = len < 6 ? len : 6;
	if (memcmp(b, "PROXY ", n) != 0)
		return -1;
	if (len < 6)
		return 0;
	return parse_v1(buf, len, r);
}
