/*
 * rediq_codec.h - the contract of rediq's C MessagePack codec.
 *
 * The codec never builds Python objects. It transcodes between MessagePack and the
 * CPython marshal stream format (version 4, the subset listed below), because the
 * interpreter's own C code (marshal.dumps / marshal.loads) is the fastest way to turn
 * Python objects into a flat byte stream and back:
 *
 *   encode:  marshal.dumps(value, 4)  --rediq_marshal_to_msgpack-->  msgpack bytes
 *   decode:  msgpack bytes  --rediq_msgpack_to_marshal-->  marshal.loads(...)
 *
 * Marshal subset (one type byte, optionally with the 0x80 "ref" flag when read):
 *   'N' None  'T' True  'F' False  'i' int32  'l' arbitrary int (15-bit digits)
 *   'g' float64  's' bytes  'z'/'Z' short ASCII str  'a'/'A' ASCII str
 *   'u'/'t' UTF-8 str  '[' list  '(' tuple  ')' small tuple  '{' dict ... '0'  'r' ref
 * All multi-byte marshal integers are little-endian; MessagePack is big-endian. Both
 * functions read only inside [src, src + src_len) and write only inside
 * [call->dst, call->dst + call->dst_cap), whatever the input. Both are plain C99 with no
 * global state (thread-safe as long as threads do not share a rediq_call); the encoder
 * may malloc scratch space and frees it before returning.
 *
 * The text between the cdef markers is what native/build_codec.py gives to cffi.
 */
#ifndef REDIQ_CODEC_H
#define REDIQ_CODEC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- cffi cdef begin --- */

/* The largest max_depth either function honours; larger values are clamped to it. */
#define REDIQ_DEPTH_CAP 1000

/* Status codes returned by both functions (0 is success). */
enum rediq_status {
    REDIQ_OK = 0,             /* done; call->length holds the bytes written */
    REDIQ_ERR_TRUNCATED = 1,  /* input ends inside the value at call->offset */
    REDIQ_ERR_BAD_TYPE = 2,   /* type byte call->byte at call->offset is never valid (0xc1) */
    REDIQ_ERR_EXT = 3,        /* msgpack ext/timestamp type (call->byte) is not supported */
    REDIQ_ERR_DEPTH = 4,      /* the container at call->offset nests deeper than max_depth */
    REDIQ_ERR_KEY_TYPE = 5,   /* the map key at call->offset is neither str nor bin */
    REDIQ_ERR_TRAILING = 6,   /* bytes remain after the value; they start at call->offset */
    REDIQ_ERR_UTF8 = 7,       /* the str at call->offset is not valid (strict) UTF-8 */
    REDIQ_ERR_OUTPUT = 8,     /* dst_cap is too small (the decoder never returns it when
                                 dst_cap >= rediq_decode_bound(src_len)) */
    REDIQ_ERR_TOO_BIG = 9,    /* the input is too large for the other format's length fields */
    REDIQ_ERR_INT_RANGE = 10, /* encoder: an int outside -2**63 .. 2**64-1 */
    REDIQ_ERR_UNSUPPORTED = 11, /* encoder: a marshal type with no msgpack mapping (set, ...) */
    REDIQ_ERR_BAD_INPUT = 12, /* encoder: malformed marshal stream (bad ref, bad length, ...) */
    REDIQ_ERR_NO_MEMORY = 13  /* encoder: malloc failed */
};

/*
 * One call's output buffer, limits and results. The caller fills the three inputs once
 * (a context can be reused for any number of calls, by one thread at a time); every call
 * overwrites the outputs. Grouping them keeps the per-call argument list short, which is
 * most of the cost of a call through cffi.
 */
typedef struct rediq_call {
    char *dst;              /* in: output buffer */
    size_t dst_cap;         /* in: its capacity in bytes */
    unsigned int max_depth; /* in: deepest container nesting allowed (outermost = 1) */
    size_t length;          /* out: bytes written to dst (REDIQ_OK) */
    size_t offset;          /* out: byte offset in src of the value the status is about */
    size_t need;            /* out: REDIQ_ERR_TRUNCATED: bytes that value needs from offset
                               (0 when not even its type byte is present);
                               REDIQ_ERR_TRAILING: bytes left after the value */
    int byte;               /* out: type byte at offset, or -1 when there is none */
    size_t bins;            /* out, encoder: marshal 's' items (bytes-like objects) seen */
} rediq_call;

/* Return a dst_cap that is always enough for rediq_msgpack_to_marshal on src_len bytes. */
size_t rediq_decode_bound(size_t src_len);

/*
 * Transcode exactly one MessagePack value in src into a marshal (version 4) stream.
 *
 * Accepts every valid encoding of nil, bool, int (all widths), float32/64, str, bin,
 * array and map (not only the minimal one); map keys must be str or bin. str must be
 * strict UTF-8 (no surrogates, no overlong forms). ASCII str becomes 'z'/'a', other str
 * 'u'; float32 widens to float64. In maps inside an array (a list of records), a str key
 * seen before in the same call becomes a back-reference ('r') to its first occurrence
 * (written with the ref flag), so repeated keys share one str object, as they do with
 * msgpack's key interning. Containers nest at
 * most call->max_depth levels. Errors are checked in reading order, and the first one
 * found is reported. src_len above 2**31 - 1 gives REDIQ_ERR_TOO_BIG (marshal lengths
 * are 32-bit); dst_cap below rediq_decode_bound(src_len) may give REDIQ_ERR_OUTPUT.
 */
int rediq_msgpack_to_marshal(const char *src, size_t src_len, rediq_call *call);

/*
 * Transcode a marshal stream (as written by marshal.dumps(value, 4)) into MessagePack.
 *
 * The output is byte-identical to msgpack.packb(value) (use_bin_type=True): smallest
 * int form (unsigned forms for non-negative values), float64 always, str8 allowed,
 * tuples become arrays, refs ('r') are expanded to a copy of the referenced value.
 * Rejects: ints outside 64 bits, dict keys other than str/bytes, str holding surrogates,
 * nesting deeper than call->max_depth, marshal types without a msgpack form, malformed
 * streams. ASCII str types are trusted to hold ASCII (marshal.dumps guarantees it).
 * One pass: a dict's header is written once its pairs are counted (its pairs move down
 * by up to 4 bytes). REDIQ_ERR_OUTPUT means dst_cap was too small: retry with a larger
 * buffer (back-references can make the output much larger than the input).
 */
int rediq_marshal_to_msgpack(const char *src, size_t src_len, rediq_call *call);

/* --- cffi cdef end --- */

#ifdef __cplusplus
}
#endif

#endif /* REDIQ_CODEC_H */
