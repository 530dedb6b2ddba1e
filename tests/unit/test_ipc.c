/*
 * Unit tests for the SOCK_SEQPACKET message framing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "common/ipc.h"

static int	sv[2];

static int
setup(void **state)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1)
		return -1;
	/* The receiving side is nonblocking, as in the daemons. */
	return fcntl(sv[1], F_SETFL, O_NONBLOCK);
}

static int
teardown(void **state)
{
	close(sv[0]);
	close(sv[1]);
	return 0;
}

/* Send a raw packet: a header with the given length word, then n octets. */
static void
send_raw(uint32_t type, uint32_t id, uint32_t lenword, size_t n)
{
	static uint8_t	pkt[12 + IPC_MAX_PAYLOAD + 64];
	uint32_t	v;

	assert_true(n <= sizeof(pkt) - 12);
	v = htonl(type);
	memcpy(pkt, &v, 4);
	v = htonl(id);
	memcpy(pkt + 4, &v, 4);
	v = htonl(lenword);
	memcpy(pkt + 8, &v, 4);
	memset(pkt + 12, 'x', n);
	assert_int_equal(send(sv[0], pkt, 12 + n, 0), (ssize_t)(12 + n));
}

static void
test_roundtrip(void **state)
{
	struct ipc_hdr	h;
	uint8_t		out[IPC_MAX_PAYLOAD], in[IPC_MAX_PAYLOAD];
	size_t		sizes[] = { 0, 1, 12, 535, IPC_MAX_PAYLOAD - 1,
			    IPC_MAX_PAYLOAD };
	size_t		i, j;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < sizes[i]; j++)
			out[j] = (uint8_t)(j * 7 + i);
		assert_int_equal(ipc_send(sv[0], 0xdeadbeef, (uint32_t)i,
		    out, sizes[i]), 0);
		memset(&h, 0xff, sizeof(h));
		assert_int_equal(ipc_recv(sv[1], &h, in), 1);
		assert_int_equal(h.type, 0xdeadbeef);
		assert_int_equal(h.id, i);
		assert_int_equal(h.len, sizes[i]);
		assert_memory_equal(in, out, sizes[i]);
	}
}

static void
test_order(void **state)
{
	struct ipc_hdr	h;
	uint8_t		in[IPC_MAX_PAYLOAD];
	uint32_t	i;

	for (i = 1; i <= 10; i++)
		assert_int_equal(ipc_send(sv[0], 1, i, &i, sizeof(i)), 0);
	for (i = 1; i <= 10; i++) {
		assert_int_equal(ipc_recv(sv[1], &h, in), 1);
		assert_int_equal(h.id, i);
		assert_int_equal(h.len, sizeof(i));
	}
}

static void
test_send_oversize(void **state)
{
	static uint8_t	big[IPC_MAX_PAYLOAD + 1];

	errno = 0;
	assert_int_equal(ipc_send(sv[0], 1, 1, big, sizeof(big)), -1);
	assert_int_equal(errno, EMSGSIZE);
}

static void
test_recv_empty(void **state)
{
	struct ipc_hdr	h;
	uint8_t		in[IPC_MAX_PAYLOAD];

	assert_int_equal(ipc_recv(sv[1], &h, in), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
test_recv_malformed(void **state)
{
	struct ipc_hdr	h;
	uint8_t		in[IPC_MAX_PAYLOAD];
	uint8_t		tiny[5] = { 0, 0, 0, 1, 0 };
	uint32_t	x = 42;

	/* Longer than the largest message: cut by the kernel. */
	send_raw(1, 1, IPC_MAX_PAYLOAD + 1, IPC_MAX_PAYLOAD + 1);
	assert_int_equal(ipc_recv(sv[1], &h, in), -2);
	send_raw(1, 1, IPC_MAX_PAYLOAD + 60, IPC_MAX_PAYLOAD + 60);
	assert_int_equal(ipc_recv(sv[1], &h, in), -2);
	/* Shorter than a header. */
	assert_int_equal(send(sv[0], tiny, sizeof(tiny), 0), 5);
	assert_int_equal(ipc_recv(sv[1], &h, in), -2);
	/* The length word disagrees with the packet. */
	send_raw(1, 1, 10, 5);
	assert_int_equal(ipc_recv(sv[1], &h, in), -2);
	send_raw(1, 1, 0, 3);
	assert_int_equal(ipc_recv(sv[1], &h, in), -2);
	send_raw(1, 1, 4, 5);
	assert_int_equal(ipc_recv(sv[1], &h, in), -2);
	send_raw(1, 1, 0xffffffffU, 5);
	assert_int_equal(ipc_recv(sv[1], &h, in), -2);
	/* Each bad packet was consumed: a good one follows. */
	assert_int_equal(ipc_send(sv[0], 7, 8, &x, sizeof(x)), 0);
	assert_int_equal(ipc_recv(sv[1], &h, in), 1);
	assert_int_equal(h.type, 7);
	assert_int_equal(h.id, 8);
	assert_memory_equal(in, &x, sizeof(x));
	/* A raw packet that is right is accepted. */
	send_raw(3, 4, 9, 9);
	assert_int_equal(ipc_recv(sv[1], &h, in), 1);
	assert_int_equal(h.len, 9);
}

static void
test_eof(void **state)
{
	struct ipc_hdr	h;
	uint8_t		in[IPC_MAX_PAYLOAD];

	assert_int_equal(ipc_send(sv[0], 1, 1, "a", 1), 0);
	close(sv[0]);
	assert_int_equal(ipc_recv(sv[1], &h, in), 1);
	assert_int_equal(ipc_recv(sv[1], &h, in), 0);
	/* Sending to a closed peer: an error, never SIGPIPE. */
	assert_int_equal(ipc_send(sv[1], 1, 1, "a", 1), -1);
	assert_int_equal(errno, EPIPE);
	sv[0] = open("/dev/null", O_RDONLY);
}

static void
test_send_full(void **state)
{
	uint8_t	buf[IPC_MAX_PAYLOAD];
	int	i, rc = 0;

	memset(buf, 0, sizeof(buf));
	/* Nobody reads sv[1]: the socket fills and says EAGAIN. */
	for (i = 0; i < 100000 && rc == 0; i++)
		rc = ipc_send(sv[0], 1, (uint32_t)i, buf, sizeof(buf));
	assert_int_equal(rc, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == ENOBUFS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_oversize, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recv_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recv_malformed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_full, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
