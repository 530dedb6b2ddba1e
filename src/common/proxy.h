/*
 * The HAProxy PROXY protocol, versions 1 (text) and 2 (binary), as a
 * receiver: a resumable parser over bounded input.
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */
#ifndef SMTPAUTH_PROXY_H
#define SMTPAUTH_PROXY_H

#include <sys/socket.h>
#include <stddef.h>

#define PROXY_V1_MAX	107	/* octets, CRLF included */
#define PROXY_V2_MAX	(16 + 512)	/* we accept at most 512 of TLVs etc. */

struct proxy_result {
	int			 local;	/* LOCAL / UNKNOWN: keep the socket's */
	struct sockaddr_storage	 src;	/* the real client */
	socklen_t		 srclen;
};

/*
 * Parse a header at the start of buf.  Returns the header's length (> 0)
 * when complete, 0 when more bytes are needed, -1 when buf does not start
 * with a valid header (the connection must be closed).
 */
int	proxy_parse(const void *buf, size_t len, struct proxy_result *);

#endif
