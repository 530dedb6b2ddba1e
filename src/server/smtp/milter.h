/*
 * The Sendmail milter protocol, version 6 (as Postfix speaks it): the
 * packet codec and the checks of what a milter sends back.  No sockets
 * here: session_milter.c drives a milter connection with these, and the
 * unit tests and the fuzzer feed them bytes.  Every byte from a milter is
 * hostile: a packet is bounded, every field is checked before use.
 */
#ifndef SMTPAUTHD_MILTER_H
#define SMTPAUTHD_MILTER_H

#include <stddef.h>
#include <stdint.h>

#define MILTER_VERSION		6
/* A packet's length field counts the command octet and its data. */
#define MILTER_CHUNK_MAX	65535		/* body octets a packet */
#define MILTER_PKT_MAX		(65536 + 1024)	/* larger: protocol error */

/* MTA to milter. */
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'

/* Milter to MTA. */
#define SMFIR_ADDRCPT	'+'
#define SMFIR_DELRCPT	'-'
#define SMFIR_ACCEPT	'a'
#define SMFIR_REPLBODY	'b'
#define SMFIR_CONTINUE	'c'
#define SMFIR_DISCARD	'd'
#define SMFIR_CHGFROM	'e'
#define SMFIR_ADDHEADER	'h'
#define SMFIR_INSHEADER	'i'
#define SMFIR_CHGHEADER	'm'
#define SMFIR_PROGRESS	'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT	'r'
#define SMFIR_SKIP	's'
#define SMFIR_TEMPFAIL	't'
#define SMFIR_REPLYCODE	'y'

/* Actions a milter may take (we offer these, no envelope changes). */
#define SMFIF_ADDHDRS		0x01
#define SMFIF_CHGBODY		0x02
#define SMFIF_CHGHDRS		0x10
#define SMFIF_QUARANTINE	0x20
/* Every action of version 6 (envelope changes, SETSYMLIST too). */
#define SMFIF_V6_ALL		0x1ff
#define MILTER_ACTIONS		(SMFIF_ADDHDRS | SMFIF_CHGBODY | \
				    SMFIF_CHGHDRS | SMFIF_QUARANTINE)

/* Protocol steps: "do not send" and "no reply" bits. */
#define SMFIP_NOCONNECT		0x000001
#define SMFIP_NOHELO		0x000002
#define SMFIP_NOMAIL		0x000004
#define SMFIP_NORCPT		0x000008
#define SMFIP_NOBODY		0x000010
#define SMFIP_NOHDRS		0x000020
#define SMFIP_NOEOH		0x000040
#define SMFIP_NR_HDR		0x000080
#define SMFIP_NOUNKNOWN		0x000100
#define SMFIP_NODATA		0x000200
#define SMFIP_SKIP		0x000400
#define SMFIP_RCPT_REJ		0x000800
#define SMFIP_NR_CONN		0x001000
#define SMFIP_NR_HELO		0x002000
#define SMFIP_NR_MAIL		0x004000
#define SMFIP_NR_RCPT		0x008000
#define SMFIP_NR_DATA		0x010000
#define SMFIP_NR_UNKN		0x020000
#define SMFIP_NR_EOH		0x040000
#define SMFIP_NR_BODY		0x080000
#define SMFIP_HDR_LEADSPC	0x100000
/* What we can do: every step, every no-reply, leading space as is. */
#define MILTER_PROTOCOL		0x1fffff

/* Macro stages of the OPTNEG reply's symbol lists (SMFIM_*). */
#define SMFIM_CONNECT	0
#define SMFIM_EOH	6

/* One packet taken from the input. */
struct milter_pkt {
	char		 cmd;
	const uint8_t	*data;		/* into the caller's buffer */
	size_t		 len;
};

/*
 * One packet at the start of buf (len octets buffered): 1 and *pkt, with
 * *used octets to drop; 0 when more octets are needed; -1 for a length of
 * zero or over MILTER_PKT_MAX.
 */
int	milter_pkt_take(const uint8_t *buf, size_t len, struct milter_pkt *,
	    size_t *used);

/* The 4-octet length and the command octet of a packet of len data. */
void	milter_pkt_head(uint8_t head[5], char cmd, size_t len);

/* The data of our OPTNEG: version, actions and steps, as a milter gets
 * them (and as milter_optneg_parse reads a milter's answer). */
void	milter_optneg_make(uint8_t out[12], uint32_t version,
	    uint32_t actions, uint32_t protocol);

/*
 * The OPTNEG reply: version, actions and protocol steps.  -1 unless the
 * version is 2 to 6, the actions are of version 6 and the steps are ones
 * we offered (any symbol lists after them are ignored).  *actions is what
 * the milter may do: what it asked for and we offered.
 */
int	milter_optneg_parse(const struct milter_pkt *, uint32_t *actions,
	    uint32_t *protocol);

/*
 * The text of an 'y' (SMFIR_REPLYCODE): one or more lines "CODE text" or
 * "CODE-text" joined by CRLF, NUL-terminated, every line with the same
 * 4xx or 5xx code, printable ASCII, at most 512 octets a line and 8 lines.
 * Copies it to out (CRLF between lines, none at the end) and returns the
 * class (4 or 5), or -1.
 */
int	milter_reply_parse(const uint8_t *, size_t, char *out, size_t outlen);
#define MILTER_REPLY_MAX	(8 * 514)

/*
 * A header of 'h' (name, value), 'm' and 'i' (index first): name of
 * printable octets but ':', value of text where a line break is LF or
 * CRLF followed by a space or a tab, no line over 998 octets.  Returns 0
 * with pointers into the packet, or -1.  The value may be empty ('m':
 * delete the header).
 */
struct milter_hdr {
	uint32_t	 index;		/* 'm', 'i': 1-based / position */
	const char	*name;
	size_t		 namelen;
	const char	*value;
	size_t		 valuelen;
};
int	milter_hdr_parse(const struct milter_pkt *, int indexed,
	    struct milter_hdr *);

/*
 * A string field that must end in NUL within the packet ('q' reason):
 * printable text.  Returns its length or -1.
 */
int	milter_text_parse(const struct milter_pkt *, size_t max);

/*
 * The message's header section as it streams by (CRLF lines): each whole
 * field is given to fn once, with its offset in the message.  A field
 * longer than MILTER_FIELD_MAX, or after MILTER_FIELDS_MAX of them, is not
 * given (it stays in the message, unseen by the milter).  The section ends
 * at an empty line (which it includes) or before a line that is no field.
 */
#define MILTER_FIELD_MAX	(64 * 1024)
#define MILTER_FIELDS_MAX	10000

typedef int	(*milter_field_fn)(void *, const char *, size_t, uint64_t);
typedef int	(*milter_body_fn)(void *, const char *, size_t);

#define MILTER_LINE_BUF		1000	/* a line is judged by this much */

struct milter_hdrscan {
	char		*field;		/* the field being gathered */
	size_t		 len;		/* octets in field (capped) */
	uint64_t	 flen;		/* the field's octets, all of them */
	uint64_t	 foff;		/* its offset in the message */
	uint64_t	 off;		/* octets seen */
	uint64_t	 body_off;	/* where the body starts, once done */
	size_t		 nfields;	/* fields given */
	int		 done;		/* in the body */
	int		 longline;	/* the rest of a long line is field's */
	char		 line[MILTER_LINE_BUF];
	size_t		 linelen;
	uint64_t	 lineoff;
};

void	milter_hdrscan_init(struct milter_hdrscan *);
/*
 * Feed message octets: fields go to field_fn (with their offset), body
 * octets to body_fn, in order.  0, or -1 when a callback failed or memory
 * ran out.
 */
int	milter_hdrscan_feed(struct milter_hdrscan *, const char *, size_t,
	    milter_field_fn, milter_body_fn, void *);
/* The message ended: a field still open is given.  0 or -1. */
int	milter_hdrscan_end(struct milter_hdrscan *, milter_field_fn,
	    milter_body_fn, void *);
void	milter_hdrscan_free(struct milter_hdrscan *);

/* Split a field "Name: value\r\n..." into name and value (leading space
 * kept when leadspc); the value's CRLFs become LF, the last removed.
 * Returns 0, or -1 when the field has no colon.  out must hold len + 1
 * octets. */
int	milter_field_split(const char *field, size_t len, int leadspc,
	    char *out, size_t *namelen, size_t *valuelen);

/* Copy a header value from a milter to the message: every line break
 * becomes CRLF.  Returns the length written (at most outlen), or -1. */
int	milter_value_to_crlf(const char *, size_t, char *out, size_t outlen);

#endif
