/*
 * CRC-32C (Castagnoli), the checksum GCS keeps for every object (its
 * "crc32c" field: the big-endian 4 bytes, base64).  Software tables
 * (slicing by 8); objfs_crc32c_combine joins the checksums of two adjacent
 * pieces without their bytes, so the checksum of a resumable upload is made
 * from its parts' checksums, also after a restart.
 */
#ifndef OBJFS_CRC32C_H
#define OBJFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over len bytes of buf. */
uint32_t objfs_crc32c(uint32_t crc, const void *buf, size_t len);
/* The CRC of A||B from crc_a = CRC(A), crc_b = CRC(B) and len_b = |B|. */
uint32_t objfs_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
/* GCS's form: base64 of the big-endian bytes, 8 characters + NUL. */
void objfs_crc32c_b64(uint32_t crc, char out[9]);

#endif
