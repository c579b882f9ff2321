/* sb_media: image signatures and generated images. See sb_media.h. */
#include "sb_media.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

const char *
sb_media_sniff (const void *data, size_t len)
{
    const unsigned char *b = data;
    if (!b)
        return NULL;
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return "image/jpeg";
    if (len >= 8 && memcmp (b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (len >= 6 && (memcmp (b, "GIF87a", 6) == 0 || memcmp (b, "GIF89a", 6) == 0))
        return "image/gif";
    if (len >= 12 && memcmp (b, "RIFF", 4) == 0 && memcmp (b + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}

const char *
sb_media_ext_type (const char *ext)
{
    if (!ext)
        return NULL;
    if (strcasecmp (ext, "jpg") == 0 || strcasecmp (ext, "jpeg") == 0)
        return "image/jpeg";
    if (strcasecmp (ext, "png") == 0)
        return "image/png";
    if (strcasecmp (ext, "gif") == 0)
        return "image/gif";
    if (strcasecmp (ext, "webp") == 0)
        return "image/webp";
    return NULL;
}

/* ---- JPEG: a 1x1 grey baseline picture ----------------------------------
 * SOI, APP0 JFIF, DQT (all ones), SOF0 1x1 one component, DHT DC and AC with
 * one 1-bit code each (DC category 0, AC end of block), SOS, the scan (two
 * 0 bits, padded with 1s) and EOI; padding goes in COM segments after APP0. */
static const unsigned char s_jpeg_head[] = {
    0xFF, 0xD8,                                                /* SOI */
    0xFF, 0xE0, 0x00, 0x10, 'J',  'F',  'I',  'F',  0x00, 0x01, /* APP0 */
    0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
};
static const unsigned char s_jpeg_sof_to_eoi[] = {
    0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00, /* SOF0 */
    /* DHT: class 0 (DC) table 0, one code of length 1, symbol 0 */
    0xFF, 0xC4, 0x00, 0x14, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00,
    /* DHT: class 1 (AC) table 0, one code of length 1, symbol 0 (end of block) */
    0xFF, 0xC4, 0x00, 0x14, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00,
    0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, /* SOS */
    0x3F,                                                       /* scan data */
    0xFF, 0xD9,                                                 /* EOI */
};
#define S_JPEG_DQT_LEN (2 + 2 + 1 + 64)
#define S_JPEG_COM_MAX 65533u /* data bytes of one COM segment */
#define S_JPEG_MIN (sizeof (s_jpeg_head) + 4 + S_JPEG_DQT_LEN + sizeof (s_jpeg_sof_to_eoi))

static void
s_jpeg (sb_buf_t *out, size_t pad)
{
    sb_buf_add (out, s_jpeg_head, sizeof (s_jpeg_head));
    /* k COM segments carry pad bytes: pad - 4 (k - 1) data bytes in all */
    size_t k = 1;
    while (pad > k * S_JPEG_COM_MAX + (k - 1) * 4)
        k++;
    size_t data = pad - 4 * (k - 1);
    for (size_t i = 0; i < k; i++) {
        size_t n = data < S_JPEG_COM_MAX ? data : S_JPEG_COM_MAX;
        data -= n;
        unsigned char h[4] = { 0xFF, 0xFE, (unsigned char) ((n + 2) >> 8),
                               (unsigned char) ((n + 2) & 0xFF) };
        sb_buf_add (out, h, sizeof (h));
        for (size_t j = 0; j < n && sb_buf_ok (out); j++)
            sb_buf_addc (out, 'x');
    }
    unsigned char dqt[S_JPEG_DQT_LEN] = { 0xFF, 0xDB, 0x00, 0x43, 0x00 };
    memset (dqt + 5, 1, 64);
    sb_buf_add (out, dqt, sizeof (dqt));
    sb_buf_add (out, s_jpeg_sof_to_eoi, sizeof (s_jpeg_sof_to_eoi));
}

/* ---- PNG: a 1x1 grey picture, padding in a tEXt chunk ------------------ */
static uint32_t
s_crc32 (uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void
s_be32 (unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

/* chunk = length, type, data, crc; data may be NULL with len bytes of 'x' */
static void
s_png_chunk (sb_buf_t *out, const char *type, const unsigned char *data, size_t len,
             const char *prefix)
{
    unsigned char h[8];
    s_be32 (h, (uint32_t) len);
    memcpy (h + 4, type, 4);
    sb_buf_add (out, h, 8);
    uint32_t crc = s_crc32 (0, (const unsigned char *) type, 4);
    if (data) {
        sb_buf_add (out, data, len);
        crc = s_crc32 (crc, data, len);
    }
    else {
        size_t pl = strlen (prefix);
        sb_buf_add (out, prefix, pl + 1);
        crc = s_crc32 (crc, (const unsigned char *) prefix, pl + 1);
        unsigned char x = 'x';
        for (size_t i = pl + 1; i < len && sb_buf_ok (out); i++) {
            sb_buf_addc (out, 'x');
            crc = s_crc32 (crc, &x, 1);
        }
    }
    unsigned char c[4];
    s_be32 (c, crc);
    sb_buf_add (out, c, 4);
}

#define S_PNG_KEYWORD "Comment"
/* signature 8 + IHDR (13 data) 25 + IDAT (13 data) 25 + tEXt (8 data) 20 + IEND 12 */
#define S_PNG_MIN (8u + 25u + 25u + 20u + 12u)

static void
s_png (sb_buf_t *out, size_t pad)
{
    static const unsigned char ihdr[13] = { 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0 };
    /* zlib, one stored block holding the row: filter 0, pixel 0; adler32 */
    /* zlib (78 01), one stored block (01, len 2, ~len) holding the row
     * (filter 0, pixel 0), adler32 of the row (00 02 00 01) */
    static const unsigned char idat[13] = { 0x78, 0x01, 0x01, 0x02, 0x00, 0xFD, 0xFF,
                                            0x00, 0x00, 0x00, 0x02, 0x00, 0x01 };
    sb_buf_add (out, "\x89PNG\r\n\x1a\n", 8);
    s_png_chunk (out, "IHDR", ihdr, sizeof (ihdr), NULL);
    s_png_chunk (out, "IDAT", idat, sizeof (idat), NULL);
    s_png_chunk (out, "tEXt", NULL, sizeof (S_PNG_KEYWORD) + pad, S_PNG_KEYWORD);
    s_png_chunk (out, "IEND", (const unsigned char *) "", 0, NULL);
}

/* ---- GIF: a 1x1 picture, padding in a comment extension ---------------- */
static const unsigned char s_gif_head[] = {
    'G',  'I',  'F',  '8',  '9',  'a',  0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, /* screen */
    0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,                                           /* colours */
    0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,                   /* image */
    0x02, 0x02, 0x44, 0x01, 0x00,                                                 /* LZW data */
};
/* head + comment extension (21 FE ... 00) + trailer */
#define S_GIF_MIN (sizeof (s_gif_head) + 3u + 1u)

static void
s_gif (sb_buf_t *out, size_t pad)
{
    sb_buf_add (out, s_gif_head, sizeof (s_gif_head));
    sb_buf_add (out, "\x21\xFE", 2);
    /* sub-blocks of 1 + n bytes (n in 1..255); one spare byte goes after the
     * trailer, where decoders stop reading */
    size_t extra = pad == 1 ? 1 : 0;
    pad -= extra;
    while (pad > 0 && sb_buf_ok (out)) {
        size_t n = pad - 1 < 255 ? pad - 1 : 255;
        if (pad - (n + 1) == 1)
            n--; /* never leave a single byte */
        sb_buf_addc (out, (char) n);
        for (size_t j = 0; j < n; j++)
            sb_buf_addc (out, 'x');
        pad -= n + 1;
    }
    sb_buf_addc (out, 0x00);
    sb_buf_addc (out, 0x3B);
    if (extra)
        sb_buf_addc (out, 0x00);
}

/* ---- WebP: a 1x1 lossless picture, padding in a JUNK chunk ------------- */
static const unsigned char s_webp[] = {
    'R',  'I',  'F',  'F',  0x1A, 0x00, 0x00, 0x00, 'W',  'E',  'B',  'P',
    'V',  'P',  '8',  'L',  0x0D, 0x00, 0x00, 0x00, 0x2F, 0x00, 0x00, 0x00,
    0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xFE, 0x07, 0x00,
};

static void
s_le32 (unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) v;
    p[1] = (unsigned char) (v >> 8);
    p[2] = (unsigned char) (v >> 16);
    p[3] = (unsigned char) (v >> 24);
}

static void
s_webp_gen (sb_buf_t *out, size_t pad)
{
    unsigned char head[sizeof (s_webp)];
    memcpy (head, s_webp, sizeof (s_webp));
    s_le32 (head + 4, (uint32_t) (sizeof (s_webp) - 8 + pad));
    sb_buf_add (out, head, sizeof (head));
    if (pad) {
        unsigned char h[8] = { 'J', 'U', 'N', 'K' };
        s_le32 (h + 4, (uint32_t) (pad - 8));
        sb_buf_add (out, h, 8);
        for (size_t j = 8; j < pad && sb_buf_ok (out); j++)
            sb_buf_addc (out, 0);
    }
}

size_t
sb_media_min_size (const char *mime)
{
    if (!mime)
        return 0;
    if (strcmp (mime, "image/jpeg") == 0)
        return S_JPEG_MIN;
    if (strcmp (mime, "image/png") == 0)
        return S_PNG_MIN;
    if (strcmp (mime, "image/gif") == 0)
        return S_GIF_MIN;
    if (strcmp (mime, "image/webp") == 0)
        return sizeof (s_webp);
    return 0;
}

int
sb_media_generate (const char *mime, size_t bytes, sb_buf_t *out)
{
    size_t min = sb_media_min_size (mime);
    if (!min)
        return -1;
    if (bytes == 0)
        bytes = min;
    if (bytes < min || bytes > SB_MEDIA_MAX_GENERATED)
        return -1;
    size_t pad = bytes - min;
    bool webp = strcmp (mime, "image/webp") == 0;
    if (webp && pad && (pad < 8 || pad % 2))
        return -1;
    if (sb_buf_reserve (out, bytes) != 0)
        return -1;
    size_t before = out->len;
    if (strcmp (mime, "image/jpeg") == 0)
        s_jpeg (out, pad);
    else if (strcmp (mime, "image/png") == 0)
        s_png (out, pad);
    else if (strcmp (mime, "image/gif") == 0)
        s_gif (out, pad);
    else
        s_webp_gen (out, pad);
    if (!sb_buf_ok (out) || out->len - before != bytes)
        return -1;
    return 0;
}
