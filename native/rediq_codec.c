/*
 * rediq_codec.c - MessagePack <-> CPython marshal (v4) transcoders; see rediq_codec.h.
 *
 * Plain C99, no Python.h. Every read is checked against the end of the input and every
 * write against the capacity of the output, so malformed input yields a status code,
 * never an out-of-bounds access.
 */
#include "rediq_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ shared helpers */

static uint16_t rd16be(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static uint32_t rd32be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t rd64be(const uint8_t *p) {
    return ((uint64_t)rd32be(p) << 32) | rd32be(p + 4);
}

static uint32_t rd32le(const uint8_t *p) {
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static void wr32le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static void wr_be(uint8_t *p, uint64_t v, int n) {
    int i;
    for (i = n - 1; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

static unsigned clamp_depth(unsigned d) { return d > REDIQ_DEPTH_CAP ? REDIQ_DEPTH_CAP : d; }

/* Return 1 when all n bytes are < 0x80 (word at a time; short runs with overlapping loads). */
static int all_ascii(const uint8_t *p, size_t n) {
    uint64_t acc = 0, w;
    size_t i = 0;
    if (n < 8) {
        uint32_t a, b;
        if (n >= 4) {
            memcpy(&a, p, 4);
            memcpy(&b, p + n - 4, 4);
            return ((a | b) & 0x80808080u) == 0;
        }
        a = n ? (uint32_t)(p[0] | p[n / 2] | p[n - 1]) : 0;
        return (a & 0x80u) == 0;
    }
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    memcpy(&w, p + n - 8, 8);
    acc |= w;
    return (acc & UINT64_C(0x8080808080808080)) == 0;
}

/* Return 1 when the n bytes at a and b are equal (short keys without a libc call). */
static int same_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n >= 8) {
        uint64_t x, y, u, v;
        if (n > 16) return memcmp(a, b, n) == 0;
        memcpy(&x, a, 8); memcpy(&y, b, 8);
        memcpy(&u, a + n - 8, 8); memcpy(&v, b + n - 8, 8);
        return x == y && u == v;
    }
    if (n >= 4) {
        uint32_t x, y, u, v;
        memcpy(&x, a, 4); memcpy(&y, b, 4);
        memcpy(&u, a + n - 4, 4); memcpy(&v, b + n - 4, 4);
        return x == y && u == v;
    }
    while (n--) if (a[n] != b[n]) return 0;
    return 1;
}

/* Return 1 when p[0..n) is well-formed UTF-8 (Unicode table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            if (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if ((w & UINT64_C(0x8080808080808080)) == 0) { i += 8; continue; }
            }
            i++;
        } else if (c >= 0xc2 && c <= 0xdf) {
            if (n - i < 2 || (p[i + 1] & 0xc0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
            if (n - i < 3 || p[i + 1] < lo || p[i + 1] > hi || (p[i + 2] & 0xc0) != 0x80) return 0;
            i += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
            if (n - i < 4 || p[i + 1] < lo || p[i + 1] > hi || (p[i + 2] & 0xc0) != 0x80 ||
                (p[i + 3] & 0xc0) != 0x80)
                return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

size_t rediq_decode_bound(size_t src_len) {
    /* The worst growth is 5x: a 1-byte fixint becomes 'i' + int32, a 1-byte fixarray '[' +
     * int32, a 1-byte empty fixstr key seen before becomes 'r' + int32. */
    if (src_len > (SIZE_MAX - 16) / 5) return SIZE_MAX;
    return src_len * 5 + 16;
}

/* ------------------------------------------------------- msgpack -> marshal (decode) */

/* Map keys seen before become marshal back-references ('r' + index), so a list of a
 * thousand dicts shares one str object per key name, as msgpack's interning does. Only
 * keys of maps inside an array are remembered: elsewhere repeats are rare, and a
 * remembered key costs marshal.loads a list append. */
#define MEMO_SLOTS 128     /* open addressing, power of two */
#define MEMO_MAX 96        /* keys remembered per call */
#define MEMO_KEYLEN 64     /* longer keys are not remembered */

typedef struct {
    const uint8_t *ptr;
    uint32_t len, ref;
} memo_t;

typedef struct {
    const uint8_t *base, *end;
    uint8_t *out, *out_end;
    unsigned max_depth;
    uint32_t nrefs;                /* marshal ref indexes handed out */
    unsigned arrays;               /* arrays enclosing the current value */
    int status;
    rediq_call *rep;
    uint8_t slot[MEMO_SLOTS];      /* 0 = empty, else 1 + index into memo */
    memo_t memo[MEMO_MAX];
} dec_t;

static const uint8_t *dec_err(dec_t *d, int status, const uint8_t *at, size_t need, int byte) {
    d->status = status;
    d->rep->offset = (size_t)(at - d->base);
    d->rep->need = need;
    d->rep->byte = byte;
    return NULL;
}

#define DEC_ROOM(k) do { if ((size_t)(d->out_end - d->out) < (size_t)(k)) \
    return dec_err(d, REDIQ_ERR_OUTPUT, p, 0, -1); } while (0)

/* Write an int with magnitude mag (negative values: 1 .. 2**63) as 'i' or 'l'. */
static const uint8_t *dec_int(dec_t *d, const uint8_t *p, int negative, uint64_t mag) {
    uint8_t *w = d->out;
    DEC_ROOM(15);
    if (negative ? mag <= UINT64_C(0x80000000) : mag <= UINT64_C(0x7fffffff)) {
        w[0] = 'i';
        wr32le(w + 1, negative ? (uint32_t)(0u - (uint32_t)mag) : (uint32_t)mag);
        d->out = w + 5;
    } else {
        uint32_t n = 0, i;
        uint64_t m = mag;
        while (m) { n++; m >>= 15; }
        w[0] = 'l';
        wr32le(w + 1, negative ? 0u - n : n);
        for (i = 0; i < n; i++) {
            w[5 + 2 * i] = (uint8_t)(mag & 0xff);
            w[6 + 2 * i] = (uint8_t)((mag >> 8) & 0x7f);
            mag >>= 15;
        }
        d->out = w + 5 + 2 * n;
    }
    return p;
}

static const uint8_t *dec_signed(dec_t *d, const uint8_t *p, int32_t v) {
    return v < 0 ? dec_int(d, p, 1, (uint64_t)0 - (uint64_t)(int64_t)v) : dec_int(d, p, 0, (uint64_t)v);
}

static const uint8_t *dec_float(dec_t *d, const uint8_t *p, uint64_t bits) {
    int i;
    DEC_ROOM(9);
    d->out[0] = 'g';
    for (i = 0; i < 8; i++) { d->out[1 + i] = (uint8_t)bits; bits >>= 8; }
    d->out += 9;
    return p;
}

static uint32_t memo_hash(const uint8_t *s, size_t n) {
    uint64_t a, b;
    if (n >= 8) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        a = x;
        b = y;
    } else {
        a = n ? ((uint64_t)s[0] << 16) | ((uint64_t)s[n / 2] << 8) | s[n - 1] : 0;
        b = 0;
    }
    a = (a ^ (b * UINT64_C(0x9e3779b97f4a7c15)) ^ n) * UINT64_C(0xff51afd7ed558ccd);
    return (uint32_t)(a >> 40);
}

/* Return the memo slot for key s[0..n): either holding it, or empty. */
static uint8_t *memo_find(dec_t *d, const uint8_t *s, size_t n) {
    uint32_t h = memo_hash(s, n);
    for (;;) {
        uint8_t *slot = &d->slot[h & (MEMO_SLOTS - 1)];
        const memo_t *m;
        if (*slot == 0) return slot;
        m = &d->memo[*slot - 1];
        if (m->len == n && same_bytes(m->ptr, s, n)) return slot;
        h++;
    }
}

/* A str (is_str) or bin with an h-byte header at start and n payload bytes. */
static const uint8_t *dec_raw(dec_t *d, const uint8_t *start, size_t h, size_t n, int is_str, int is_key) {
    const uint8_t *s = start + h, *p = start;
    uint8_t *w, *slot = NULL, code;
    if (n > (size_t)(d->end - s)) return dec_err(d, REDIQ_ERR_TRUNCATED, start, h + n, *start);
    DEC_ROOM(5 + n);
    w = d->out;
    if (!is_str) {
        w[0] = 's';
        wr32le(w + 1, (uint32_t)n);
        memcpy(w + 5, s, n);
        d->out = w + 5 + n;
        return s + n;
    }
    if (is_key && d->arrays && n <= MEMO_KEYLEN) {
        slot = memo_find(d, s, n);
        if (*slot) {  /* seen (and validated) before */
            w[0] = 'r';
            wr32le(w + 1, d->memo[*slot - 1].ref);
            d->out = w + 5;
            return s + n;
        }
    }
    if (all_ascii(s, n)) {
        code = n < 256 ? 'z' : 'a';
    } else {
        if (!utf8_valid(s, n)) return dec_err(d, REDIQ_ERR_UTF8, start, 0, *start);
        code = 'u';
    }
    if (slot && d->nrefs < MEMO_MAX) {
        memo_t *m = &d->memo[d->nrefs];
        m->ptr = s;
        m->len = (uint32_t)n;
        m->ref = d->nrefs++;
        *slot = (uint8_t)d->nrefs;
        code |= 0x80; /* FLAG_REF: marshal.loads keeps it as ref m->ref */
    }
    w[0] = code;
    if (code == 'z' || code == ('z' | 0x80)) {
        w[1] = (uint8_t)n;
        w += 2;
    } else {
        wr32le(w + 1, (uint32_t)n);
        w += 5;
    }
    memcpy(w, s, n);
    d->out = w + n;
    return s + n;
}

static const uint8_t *dec_value(dec_t *d, const uint8_t *p, unsigned depth, int is_key);

static int is_key_byte(uint8_t k) {
    return (k >= 0xa0 && k <= 0xbf) || (k >= 0xd9 && k <= 0xdb) || (k >= 0xc4 && k <= 0xc6);
}

/* An array or map of n entries; p points after its header. */
static const uint8_t *dec_container(dec_t *d, const uint8_t *p, uint32_t n, int is_map, unsigned depth) {
    DEC_ROOM(5);
    if (!is_map) {
        d->out[0] = '[';
        wr32le(d->out + 1, n);
        d->out += 5;
        d->arrays++;
        while (n-- && p) p = dec_value(d, p, depth, 0);
        d->arrays--;
        return p;
    }
    *d->out++ = '{';
    while (n--) {
        if (p >= d->end) return dec_err(d, REDIQ_ERR_TRUNCATED, p, 0, -1);
        if (!is_key_byte(*p)) return dec_err(d, REDIQ_ERR_KEY_TYPE, p, 0, *p);
        if (*p >= 0xa0 && *p <= 0xbf) p = dec_raw(d, p, 1, *p & 0x1f, 1, 1);
        else p = dec_value(d, p, depth, 1);
        if (!p || !(p = dec_value(d, p, depth, 0))) return NULL;
    }
    DEC_ROOM(1);
    *d->out++ = '0';
    return p;
}

/* Header sizes (type byte included) of 0xc4 .. 0xdf; 0 marks ext types. */
static const uint8_t HEADER[28] = {
    2, 3, 5,          /* c4..c6 bin8/16/32 (length field only) */
    0, 0, 0,          /* c7..c9 ext */
    5, 9,             /* ca float32, cb float64 */
    2, 3, 5, 9,       /* cc..cf uint8..uint64 */
    2, 3, 5, 9,       /* d0..d3 int8..int64 */
    0, 0, 0, 0, 0,    /* d4..d8 fixext */
    2, 3, 5,          /* d9..db str8/16/32 (length field only) */
    3, 5, 3, 5        /* dc array16, dd array32, de map16, df map32 */
};

/* Decode the value at p inside depth containers; return the byte after it, or NULL. */
static const uint8_t *dec_value(dec_t *d, const uint8_t *p, unsigned depth, int is_key) {
    uint8_t b;
    size_t h;
    if (p >= d->end) return dec_err(d, REDIQ_ERR_TRUNCATED, p, 0, -1);
    b = *p;
    if (b >= 0xa0 && b <= 0xbf) return dec_raw(d, p, 1, b & 0x1f, 1, is_key);
    if (b <= 0x7f) return dec_int(d, p + 1, 0, b);
    if (b >= 0xe0) return dec_int(d, p + 1, 1, (uint64_t)(256 - b));
    if (b <= 0x9f) {
        if (depth >= d->max_depth) return dec_err(d, REDIQ_ERR_DEPTH, p, 0, b);
        return dec_container(d, p + 1, b & 0x0f, b <= 0x8f, depth + 1);
    }
    if (b <= 0xc3) {
        if (b == 0xc1) return dec_err(d, REDIQ_ERR_BAD_TYPE, p, 0, b);
        DEC_ROOM(1);
        *d->out++ = b == 0xc0 ? 'N' : (b == 0xc3 ? 'T' : 'F');
        return p + 1;
    }
    h = HEADER[b - 0xc4];
    if (h == 0) return dec_err(d, REDIQ_ERR_EXT, p, 0, b);
    if (b >= 0xdc && depth >= d->max_depth) return dec_err(d, REDIQ_ERR_DEPTH, p, 0, b);
    if ((size_t)(d->end - p) < h) return dec_err(d, REDIQ_ERR_TRUNCATED, p, h, b);
    switch (b) {
    case 0xc4: return dec_raw(d, p, 2, p[1], 0, 0);
    case 0xc5: return dec_raw(d, p, 3, rd16be(p + 1), 0, 0);
    case 0xc6: return dec_raw(d, p, 5, rd32be(p + 1), 0, 0);
    case 0xca: {
        uint32_t u = rd32be(p + 1);
        float f;
        double x;
        uint64_t bits;
        memcpy(&f, &u, 4);
        x = (double)f;
        memcpy(&bits, &x, 8);
        return dec_float(d, p + 5, bits);
    }
    case 0xcb: return dec_float(d, p + 9, rd64be(p + 1));
    case 0xcc: return dec_int(d, p + 2, 0, p[1]);
    case 0xcd: return dec_int(d, p + 3, 0, rd16be(p + 1));
    case 0xce: return dec_int(d, p + 5, 0, rd32be(p + 1));
    case 0xcf: return dec_int(d, p + 9, 0, rd64be(p + 1));
    case 0xd0: return dec_signed(d, p + 2, (int8_t)p[1]);
    case 0xd1: return dec_signed(d, p + 3, (int16_t)rd16be(p + 1));
    case 0xd2: return dec_signed(d, p + 5, (int32_t)rd32be(p + 1));
    case 0xd3: { uint64_t u = rd64be(p + 1); return dec_int(d, p + 9, u >> 63, u >> 63 ? 0 - u : u); }
    case 0xd9: return dec_raw(d, p, 2, p[1], 1, is_key);
    case 0xda: return dec_raw(d, p, 3, rd16be(p + 1), 1, is_key);
    case 0xdb: return dec_raw(d, p, 5, rd32be(p + 1), 1, is_key);
    case 0xdc: return dec_container(d, p + 3, rd16be(p + 1), 0, depth + 1);
    case 0xdd: return dec_container(d, p + 5, rd32be(p + 1), 0, depth + 1);
    case 0xde: return dec_container(d, p + 3, rd16be(p + 1), 1, depth + 1);
    default: return dec_container(d, p + 5, rd32be(p + 1), 1, depth + 1); /* 0xdf */
    }
}

int rediq_msgpack_to_marshal(const char *src, size_t src_len, rediq_call *call) {
    char *dst = call->dst;
    size_t dst_cap = call->dst_cap;
    unsigned max_depth = call->max_depth;
    dec_t d;
    const uint8_t *end;
    call->length = 0;
    call->offset = 0;
    call->need = 0;
    call->byte = -1;
    call->bins = 0;
    if (src_len > 0x7fffffff) return REDIQ_ERR_TOO_BIG;
    d.base = (const uint8_t *)src;
    d.end = d.base + src_len;
    d.out = (uint8_t *)dst;
    d.out_end = d.out + dst_cap;
    d.max_depth = clamp_depth(max_depth);
    d.nrefs = 0;
    d.arrays = 0;
    d.rep = call;
    memset(d.slot, 0, sizeof d.slot);
    end = dec_value(&d, d.base, 0, 0);
    if (!end) return d.status;
    if (end < d.end) {
        call->offset = (size_t)(end - d.base);
        call->need = (size_t)(d.end - end);
        call->byte = *end;
        return REDIQ_ERR_TRAILING;
    }
    call->length = (size_t)(d.out - (uint8_t *)dst);
    return REDIQ_OK;
}

/* ------------------------------------------------------- marshal -> msgpack (encode) */

/* Marshal type codes (Python/marshal.c). */
enum {
    M_NULL = '0', M_NONE = 'N', M_FALSE = 'F', M_TRUE = 'T', M_INT = 'i', M_LONG = 'l',
    M_BINARY_FLOAT = 'g', M_STRING = 's', M_INTERNED = 't', M_REF = 'r', M_TUPLE = '(',
    M_LIST = '[', M_DICT = '{', M_UNICODE = 'u', M_ASCII = 'a', M_ASCII_INTERNED = 'A',
    M_SMALL_TUPLE = ')', M_SHORT_ASCII = 'z', M_SHORT_ASCII_INTERNED = 'Z', M_FLAG_REF = 0x80
};

/* An object marshal flagged for back-reference: where its msgpack form lies in dst. */
typedef struct {
    size_t start, size;
    unsigned height;        /* container levels inside it (0 for scalars) */
    unsigned char done;     /* 0 while its contents are still being written */
    unsigned char key_ok;   /* str or bytes */
} ref_t;

typedef struct {
    const uint8_t *base, *end;
    uint8_t *o0, *out, *out_end;
    unsigned max_depth;
    int status;
    ref_t *refs, *refs_local;
    size_t nrefs, refcap;
    size_t bins;
    rediq_call *rep;
} enc_t;

static const uint8_t *enc_err(enc_t *e, int status, const uint8_t *at) {
    e->status = status;
    e->rep->offset = (size_t)(at - e->base);
    e->rep->byte = at < e->end ? *at : -1;
    return NULL;
}

#define ENC_ROOM(k) do { if ((size_t)(e->out_end - e->out) < (size_t)(k)) \
    return enc_err(e, REDIQ_ERR_OUTPUT, at); } while (0)
#define ENC_NEED(k) do { if ((size_t)(e->end - p) < (size_t)(k)) \
    return enc_err(e, REDIQ_ERR_BAD_INPUT, at); } while (0)

/* Write an int as msgpack-python packs it: smallest form, unsigned forms when >= 0. */
static uint8_t *put_int(uint8_t *w, int negative, uint64_t mag) {
    if (!negative || mag == 0) {
        if (mag < 128) { w[0] = (uint8_t)mag; return w + 1; }
        if (mag < 256) { w[0] = 0xcc; w[1] = (uint8_t)mag; return w + 2; }
        if (mag < 65536) { w[0] = 0xcd; wr_be(w + 1, mag, 2); return w + 3; }
        if (mag < UINT64_C(4294967296)) { w[0] = 0xce; wr_be(w + 1, mag, 4); return w + 5; }
        w[0] = 0xcf; wr_be(w + 1, mag, 8); return w + 9;
    } else {
        uint64_t v = (uint64_t)0 - mag; /* two's complement of the negative value */
        if (mag <= 32) { w[0] = (uint8_t)v; return w + 1; }
        if (mag <= 128) { w[0] = 0xd0; w[1] = (uint8_t)v; return w + 2; }
        if (mag <= 32768) { w[0] = 0xd1; wr_be(w + 1, v, 2); return w + 3; }
        if (mag <= UINT64_C(2147483648)) { w[0] = 0xd2; wr_be(w + 1, v, 4); return w + 5; }
        w[0] = 0xd3; wr_be(w + 1, v, 8); return w + 9;
    }
}

/* Write a length header: small|n below small_max, else c8 (if >= 0) / c16 / c32. */
static uint8_t *put_head(uint8_t *w, size_t n, int small, size_t small_max, int c8, int c16, int c32) {
    if (n < small_max) { w[0] = (uint8_t)(small | (int)n); return w + 1; }
    if (c8 >= 0 && n < 256) { w[0] = (uint8_t)c8; w[1] = (uint8_t)n; return w + 2; }
    if (n < 65536) { w[0] = (uint8_t)c16; wr_be(w + 1, n, 2); return w + 3; }
    w[0] = (uint8_t)c32; wr_be(w + 1, n, 4); return w + 5;
}

static int is_str_type(uint8_t t) {
    return t == M_SHORT_ASCII || t == M_SHORT_ASCII_INTERNED || t == M_ASCII ||
           t == M_ASCII_INTERNED || t == M_UNICODE || t == M_INTERNED;
}

/* Return 1 when UTF-8 bytes (as marshal writes them, "surrogatepass") hold a surrogate. */
static int has_surrogate(const uint8_t *s, size_t n) {
    const uint8_t *q = s, *end = s + n;
    while ((q = memchr(q, 0xed, (size_t)(end - q))) != NULL) {
        if (q + 1 < end && q[1] >= 0xa0) return 1;
        q++;
    }
    return 0;
}

static const uint8_t *enc_value(enc_t *e, const uint8_t *p, unsigned depth, int is_key, unsigned *height);

/* Encode one container item: the most common forms (short ASCII str, int32, back-reference,
 * None/bools, float) inline, everything else (and every error) through enc_value. This
 * saves a call per item, which is most of the cost for job-sized payloads. */
static const uint8_t *enc_item(enc_t *e, const uint8_t *p, unsigned depth, int is_key, unsigned *height) {
    size_t in = (size_t)(e->end - p), room = (size_t)(e->out_end - e->out);
    uint8_t *w = e->out;
    if (in < 5 || room < 9) return enc_value(e, p, depth, is_key, height);
    *height = 0;
    switch (p[0]) {
    case M_SHORT_ASCII:
    case M_SHORT_ASCII_INTERNED: {
        size_t n = p[1];
        if (in - 2 < n || room - 2 < n) break;
        if (n < 32) {
            *w++ = (uint8_t)(0xa0 | n);
        } else {
            *w++ = 0xd9;
            *w++ = (uint8_t)n;
        }
        memcpy(w, p + 2, n);
        e->out = w + n;
        return p + 2 + n;
    }
    case M_INT: {
        uint32_t u = rd32le(p + 1);
        if (is_key) break;
        e->out = u > 0x7fffffff ? put_int(w, 1, 0u - u) : put_int(w, 0, u);
        return p + 5;
    }
    case M_REF: {
        uint32_t idx = rd32le(p + 1);
        const ref_t *r;
        if (idx >= e->nrefs) break;
        r = &e->refs[idx];
        if (!r->done || (is_key && !r->key_ok) || depth + r->height > e->max_depth || room < r->size) break;
        memmove(w, e->o0 + r->start, r->size);
        e->out = w + r->size;
        *height = r->height;
        return p + 5;
    }
    case M_NONE: if (is_key) break; *w = 0xc0; e->out = w + 1; return p + 1;
    case M_TRUE: if (is_key) break; *w = 0xc3; e->out = w + 1; return p + 1;
    case M_FALSE: if (is_key) break; *w = 0xc2; e->out = w + 1; return p + 1;
    default: break;
    }
    return enc_value(e, p, depth, is_key, height);
}

/* 'l': a 32-bit signed digit count, then 15-bit digits, least significant first. */
static const uint8_t *enc_long(enc_t *e, const uint8_t *at, const uint8_t *p) {
    uint32_t raw, i, n;
    uint64_t mag = 0;
    ENC_NEED(4);
    raw = rd32le(p);
    p += 4;
    n = raw > 0x7fffffff ? 0u - raw : raw;
    if (n > 0x7fffffff) return enc_err(e, REDIQ_ERR_BAD_INPUT, at);
    ENC_NEED(2 * (size_t)n);
    for (i = n; i > 0; i--) {
        uint32_t digit = (uint32_t)p[2 * (i - 1)] | ((uint32_t)p[2 * (i - 1) + 1] << 8);
        if (digit >= 0x8000) return enc_err(e, REDIQ_ERR_BAD_INPUT, at);
        if (mag >> 49) return enc_err(e, REDIQ_ERR_INT_RANGE, at);
        mag = (mag << 15) | digit;
    }
    if (raw > 0x7fffffff && mag > (UINT64_C(1) << 63)) return enc_err(e, REDIQ_ERR_INT_RANGE, at);
    e->out = put_int(e->out, raw > 0x7fffffff, mag);
    return p + 2 * (size_t)n;
}

/* 'r': copy the msgpack form of an object written before. */
static const uint8_t *enc_ref(enc_t *e, const uint8_t *at, const uint8_t *p, unsigned depth,
                              int is_key, unsigned *height) {
    uint32_t idx;
    const ref_t *r;
    ENC_NEED(4);
    idx = rd32le(p);
    if (idx >= e->nrefs || !e->refs[idx].done) return enc_err(e, REDIQ_ERR_BAD_INPUT, at);
    r = &e->refs[idx];
    if (is_key && !r->key_ok) return enc_err(e, REDIQ_ERR_KEY_TYPE, at);
    if (depth + r->height > e->max_depth) return enc_err(e, REDIQ_ERR_DEPTH, at);
    ENC_ROOM(r->size);
    memmove(e->out, e->o0 + r->start, r->size);
    e->out += r->size;
    *height = r->height;
    return p + 4;
}

/* A list or tuple of n items. */
static const uint8_t *enc_items(enc_t *e, const uint8_t *at, const uint8_t *p, size_t n,
                                unsigned depth, unsigned *height) {
    unsigned h;
    if (n > (size_t)(e->end - p)) return enc_err(e, REDIQ_ERR_BAD_INPUT, at); /* >= 1 byte each */
    e->out = put_head(e->out, n, 0x90, 16, -1, 0xdc, 0xdd);
    *height = 1;
    while (n--) {
        if (!(p = enc_item(e, p, depth + 1, 0, &h))) return NULL;
        if (h + 1 > *height) *height = h + 1;
    }
    return p;
}

/* A dict: pairs until '0'. The count is known only at the end, so 5 bytes are reserved for
 * the header and the pairs are moved down once the real header size is known. */
static const uint8_t *enc_dict(enc_t *e, const uint8_t *at, const uint8_t *p, unsigned depth,
                               unsigned *height) {
    uint8_t *head = e->out, *body = e->out + 5;
    size_t count = 0, first_ref = e->nrefs, i, shift;
    unsigned h;
    e->out = body;
    *height = 1;
    for (;;) {
        ENC_NEED(1);
        if (*p == M_NULL) { p++; break; }
        if (!(p = enc_item(e, p, depth + 1, 1, &h))) return NULL;
        if (!(p = enc_item(e, p, depth + 1, 0, &h))) return NULL;
        if (h + 1 > *height) *height = h + 1;
        count++;
    }
    if (count > 0xffffffffu) return enc_err(e, REDIQ_ERR_TOO_BIG, at);
    shift = 5 - (size_t)(put_head(head, count, 0x80, 16, -1, 0xde, 0xdf) - head);
    if (shift) {
        memmove(body - shift, body, (size_t)(e->out - body));
        e->out -= shift;
        for (i = first_ref; i < e->nrefs; i++) e->refs[i].start -= shift;
    }
    return p;
}

static const uint8_t *enc_value(enc_t *e, const uint8_t *p, unsigned depth, int is_key, unsigned *height) {
    const uint8_t *at = p;
    uint8_t t, flagged;
    size_t ri = 0, start, n;
    *height = 0;
    ENC_NEED(1);
    t = *p++;
    flagged = t & M_FLAG_REF;
    t &= 0x7f;
    if (t == M_REF) return enc_ref(e, at, p, depth, is_key, height);
    if (is_key && t != M_STRING && !is_str_type(t)) return enc_err(e, REDIQ_ERR_KEY_TYPE, at);
    if (flagged) {
        if (e->nrefs == e->refcap) {
            size_t ncap = e->refcap * 2;
            ref_t *grown = e->refs == e->refs_local ? malloc(ncap * sizeof(ref_t))
                                                    : realloc(e->refs, ncap * sizeof(ref_t));
            if (!grown) return enc_err(e, REDIQ_ERR_NO_MEMORY, at);
            if (e->refs == e->refs_local) memcpy(grown, e->refs_local, e->refcap * sizeof(ref_t));
            e->refs = grown;
            e->refcap = ncap;
        }
        ri = e->nrefs++;
        e->refs[ri].done = 0;
    }
    start = (size_t)(e->out - e->o0);
    ENC_ROOM(9); /* any header or scalar */
    switch (t) {
    case M_NONE: *e->out++ = 0xc0; break;
    case M_TRUE: *e->out++ = 0xc3; break;
    case M_FALSE: *e->out++ = 0xc2; break;
    case M_INT: {
        uint32_t u;
        ENC_NEED(4);
        u = rd32le(p);
        p += 4;
        e->out = u > 0x7fffffff ? put_int(e->out, 1, 0u - u) : put_int(e->out, 0, u);
        break;
    }
    case M_LONG:
        if (!(p = enc_long(e, at, p))) return NULL;
        break;
    case M_BINARY_FLOAT: {
        int i;
        ENC_NEED(8);
        e->out[0] = 0xcb;
        for (i = 0; i < 8; i++) e->out[1 + i] = p[7 - i];
        e->out += 9;
        p += 8;
        break;
    }
    case M_SHORT_ASCII: case M_SHORT_ASCII_INTERNED:
    case M_ASCII: case M_ASCII_INTERNED: case M_UNICODE: case M_INTERNED: case M_STRING:
        if (t == M_SHORT_ASCII || t == M_SHORT_ASCII_INTERNED) {
            ENC_NEED(1);
            n = *p++;
        } else {
            ENC_NEED(4);
            n = rd32le(p);
            p += 4;
        }
        ENC_NEED(n);
        ENC_ROOM(5 + n);
        if (t == M_STRING) {
            e->bins++;
            e->out = put_head(e->out, n, 0, 0, 0xc4, 0xc5, 0xc6);
        } else {
            /* marshal writes ASCII types only for ASCII text, and other text as UTF-8 with
             * "surrogatepass": lone surrogates are the one thing msgpack cannot encode. */
            if ((t == M_UNICODE || t == M_INTERNED) && has_surrogate(p, n))
                return enc_err(e, REDIQ_ERR_UTF8, at);
            e->out = put_head(e->out, n, 0xa0, 32, 0xd9, 0xda, 0xdb);
        }
        memcpy(e->out, p, n);
        e->out += n;
        p += n;
        break;
    case M_LIST: case M_TUPLE: case M_SMALL_TUPLE: case M_DICT:
        if (depth >= e->max_depth) return enc_err(e, REDIQ_ERR_DEPTH, at);
        if (t == M_DICT) {
            p = enc_dict(e, at, p, depth, height);
        } else if (t == M_SMALL_TUPLE) {
            ENC_NEED(1);
            n = *p;
            p = enc_items(e, at, p + 1, n, depth, height);
        } else {
            ENC_NEED(4);
            n = rd32le(p);
            if (n > 0x7fffffff) return enc_err(e, REDIQ_ERR_BAD_INPUT, at);
            p = enc_items(e, at, p + 4, n, depth, height);
        }
        if (!p) return NULL;
        break;
    default:
        return enc_err(e, REDIQ_ERR_UNSUPPORTED, at);
    }
    if (flagged) {
        ref_t *r = &e->refs[ri];
        r->start = start;
        r->size = (size_t)(e->out - e->o0) - start;
        r->height = *height;
        r->key_ok = (unsigned char)(t == M_STRING || is_str_type(t));
        r->done = 1;
    }
    return p;
}

int rediq_marshal_to_msgpack(const char *src, size_t src_len, rediq_call *call) {
    char *dst = call->dst;
    size_t dst_cap = call->dst_cap;
    unsigned max_depth = call->max_depth;
    ref_t refs_local[32];
    enc_t e;
    unsigned height;
    const uint8_t *end;
    call->length = 0;
    call->offset = 0;
    call->need = 0;
    call->byte = -1;
    call->bins = 0;
    e.base = (const uint8_t *)src;
    e.end = e.base + src_len;
    e.o0 = e.out = (uint8_t *)dst;
    e.out_end = e.o0 + dst_cap;
    e.max_depth = clamp_depth(max_depth);
    e.status = REDIQ_OK;
    e.refs = e.refs_local = refs_local;
    e.nrefs = 0;
    e.refcap = 32;
    e.bins = 0;
    e.rep = call;
    end = enc_value(&e, e.base, 0, 0, &height);
    if (end && end != e.end) end = enc_err(&e, REDIQ_ERR_BAD_INPUT, end);
    if (e.refs != refs_local) free(e.refs);
    if (!end) return e.status;
    call->length = (size_t)(e.out - e.o0);
    call->bins = e.bins;
    return REDIQ_OK;
}
