/* Internal to harness/limbo. */
#ifndef TM_LIMBO_INTERNAL_H
#define TM_LIMBO_INTERNAL_H

#include <stdint.h>

#include <openssl/types.h>

/* limbo-schema.json's SignatureAlgorithm names, NULL-terminated. */
extern const char *const limbo_sig_names[];

/* 1 when id fits the schema's id pattern. */
int limbo_id_ok(const char *id);
/* A limbo validation_time ("…Z" or "…+00:00") → epoch; 0 on success. */
int limbo_time(const char *s, int64_t *epoch);

/* Device outcome classes that mean the device accepted the chain: the handshake
 * completed, or it failed afterwards on the peer's signature (the peer holds no
 * key of the certificate). NULL-terminated. */
extern const char *const limbo_accepted_classes[];

/* An RSA key of `bits` bits whose modulus is just above 2^(bits-1), below that of
 * any real certificate of that size, so its signatures fail a check against the
 * certificate's key as a failed verification every time (limbo_key.c says why).
 * Deterministic; NULL when bits is out of 512..16384 or OpenSSL fails. */
EVP_PKEY *limbo_rsa_floor_key(int bits);

#endif
