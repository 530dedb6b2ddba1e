/*
 * libFuzzer harness for base64: whatever the strict decoder accepts must
 * encode back to exactly the same text (one encoding per octet string),
 * and any octets must survive an encode and decode unchanged.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	*dec, *back;
	char		*enc;
	size_t		 declen, enclen, backlen;

	/* Decode the input as text; exact-size buffers catch overruns. */
	dec = malloc(BASE64_DECODED_MAX(size) + 1);
	enc = malloc(BASE64_ENCODED_SIZE(size));
	back = malloc(size + 1);
	assert(dec != NULL && enc != NULL && back != NULL);

	if (base64_decode((const char *)data, size, dec,
	    BASE64_DECODED_MAX(size), &declen) == 0) {
		assert(size % 4 == 0);
		assert(declen <= BASE64_DECODED_MAX(size));
		assert(BASE64_ENCODED_LEN(declen) == size);
		assert(base64_encode(dec, declen, enc,
		    BASE64_ENCODED_SIZE(declen), &enclen) == 0);
		assert(enclen == size);
		assert(memcmp(enc, data, size) == 0);
		/* One octet too little room must fail, not overrun. */
		if (declen > 0)
			assert(base64_decode((const char *)data, size, dec,
			    declen - 1, &backlen) == -1);
	}

	/* Encode the input as octets and decode it back. */
	assert(base64_encode(data, size, enc, BASE64_ENCODED_SIZE(size),
	    &enclen) == 0);
	assert(enclen == BASE64_ENCODED_LEN(size));
	assert(enc[enclen] == '\0');
	assert(base64_decode(enc, enclen, back, size, &backlen) == 0);
	assert(backlen == size);
	assert(memcmp(back, data, size) == 0);

	free(dec);
	free(enc);
	free(back);
	return 0;
}
