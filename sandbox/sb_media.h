/*
 * sb_media: what the sandbox knows of images, shared by the platforms.
 *
 * The sandbox never decodes an image: like the platforms' first check, it
 * recognises the type by the bytes' signature (JPEG, PNG, GIF, WebP) and
 * refuses the rest. It also makes small images of a given type and size,
 * served by GET /_sandbox/media/<name>.<ext>[?bytes=N] so that tests can use
 * sandbox URLs as public image URLs. Generated JPEG, PNG and GIF images are
 * valid 1x1 pictures (padded with comment data up to the size asked);
 * WebP ones are a 1x1 lossless bitstream in a RIFF container padded with a
 * JUNK chunk.
 */
#ifndef SB_MEDIA_H
#define SB_MEDIA_H

#include "sb_buf.h"

#include <stddef.h>

#define SB_MEDIA_MAX_GENERATED (16u * 1024u * 1024u)

/* "image/jpeg", "image/png", "image/gif", "image/webp" from the bytes'
 * signature, or NULL. */
const char *sb_media_sniff (const void *data, size_t len);
/* The type for a file extension ("jpg", "jpeg", "png", "gif", "webp",
 * without case), or NULL. */
const char *sb_media_ext_type (const char *ext);
/* Smallest image sb_media_generate makes of this type (0: unknown type). */
size_t sb_media_min_size (const char *mime);
/* Appends an image of type mime and exactly `bytes` bytes (0: the smallest)
 * to out. 0, or -1 if the type is unknown, bytes is below the smallest
 * image or above SB_MEDIA_MAX_GENERATED, or out of memory. */
int sb_media_generate (const char *mime, size_t bytes, sb_buf_t *out);

#endif
