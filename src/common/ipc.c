/*
 * Framing of small messages over SOCK_SEQPACKET unix sockets.
 *
 * A packet is a 12-octet header (type, id, payload length: three
 * network-order 32-bit words) followed by the payload.  The kernel keeps
 * packet boundaries, so a message is never split or merged; what is left
 * to check is that the packet is as long as its header says and no longer
 * than we allow.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/ipc.h"

#define IPC_HDR_LEN	12

static void	put32(uint8_t *, uint32_t);
static uint32_t	get32(const uint8_t *);

static void
put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, sizeof(v));
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return ntohl(v);
}

int
ipc_send(int fd, uint32_t type, uint32_t id, const void *payload,
    size_t len)
{
	struct msghdr	 msg;
	struct iovec	 iov[2];
	uint8_t		 hdr[IPC_HDR_LEN];
	ssize_t		 n;

	if (len > IPC_MAX_PAYLOAD || (len > 0 && payload == NULL)) {
		errno = EMSGSIZE;
		return -1;
	}
	put32(hdr, type);
	put32(hdr + 4, id);
	put32(hdr + 8, (uint32_t)len);

	/* Two iovecs: the payload (maybe a password) is not copied. */
	memset(&msg, 0, sizeof(msg));
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = len;
	msg.msg_iov = iov;
	msg.msg_iovlen = len > 0 ? 2 : 1;

	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != sizeof(hdr) + len) {
		/* Cannot happen with SOCK_SEQPACKET: a packet is atomic. */
		errno = EIO;
		return -1;
	}
	return 0;
}

int
ipc_recv(int fd, struct ipc_hdr *h, void *payload)
{
	struct msghdr	 msg;
	struct iovec	 iov[2];
	uint8_t		 hdr[IPC_HDR_LEN];
	ssize_t		 n;
	size_t		 got;

	memset(&msg, 0, sizeof(msg));
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = payload;
	iov[1].iov_len = IPC_MAX_PAYLOAD;
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;

	do {
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0)
		return 0;	/* a SOCK_SEQPACKET peer closed */
	got = (size_t)n;

	/* Too long for us (cut by the kernel), too short, or inconsistent. */
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    got < sizeof(hdr) ||
	    get32(hdr + 8) != got - sizeof(hdr)) {
		if (got > sizeof(hdr))
			explicit_bzero(payload, got - sizeof(hdr) >
			    IPC_MAX_PAYLOAD ? IPC_MAX_PAYLOAD :
			    got - sizeof(hdr));
		return -2;
	}
	h->type = get32(hdr);
	h->id = get32(hdr + 4);
	h->len = (uint32_t)(got - sizeof(hdr));
	return 1;
}
