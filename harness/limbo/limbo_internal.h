/* Internal to harness/limbo. */
#ifndef TM_LIMBO_INTERNAL_H
#define TM_LIMBO_INTERNAL_H

#include <stdint.h>

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

#endif
