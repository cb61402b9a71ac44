/* png_fixture.h — PNG files made byte by byte for tests, with no encoder: a header that announces any size, and
 * a valid 8-bit gray image in stored (uncompressed) deflate blocks. Both return a malloc'ed buffer and its size
 * (NULL and 0 when out of memory). */
#ifndef BLASTO_TEST_PNG_FIXTURE_H
#define BLASTO_TEST_PNG_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE, as PNG chunks use it) of n bytes. */
uint32_t test_crc32(const unsigned char *p, size_t n);
/* signature + IHDR (width × height, bit depth, gray) + an empty IDAT + IEND */
unsigned char *test_png_header_only(uint32_t width, uint32_t height, int bit_depth, size_t *size);
/* every pixel `value` */
unsigned char *test_png_gray(uint32_t width, uint32_t height, unsigned char value, size_t *size);

#endif
