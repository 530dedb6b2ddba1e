/*
 * Small messages between smtpauthd's processes, over SOCK_SEQPACKET unix
 * sockets (one message a packet, reliable, ordered).  Every message is a
 * fixed header and a payload of at most IPC_MAX_PAYLOAD octets; the
 * receiver checks the header's length against what arrived.
 */
#ifndef SMTPAUTH_IPC_H
#define SMTPAUTH_IPC_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_MAX_PAYLOAD	2048

struct ipc_hdr {
	uint32_t	type;
	uint32_t	id;	/* request id, echoed in the answer */
	uint32_t	len;	/* payload octets */
};

/* Send one message; 0, or -1 with errno (EAGAIN: try later). */
int	ipc_send(int fd, uint32_t type, uint32_t id, const void *payload,
	    size_t len);
/*
 * Receive one message into h and payload (room for IPC_MAX_PAYLOAD).
 * Returns 1, 0 at end of file, -1 with errno (EAGAIN), or -2 for a
 * malformed message (which is consumed and must be ignored or treated as
 * a broken peer).
 */
int	ipc_recv(int fd, struct ipc_hdr *h, void *payload);

#endif
