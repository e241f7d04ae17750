/* mbedTLS 3.6.6 configuration of the device (docs/device-model.md §0, §3, §7): the
 * MicroPython port configuration OpenMV builds (extmod/mbedtls/mbedtls_config_common.h
 * with the bare-metal part of the stm32/mimxrt/alif ports), used as MBEDTLS_CONFIG_FILE
 * for the library the virtual camera, tests/devtls and bench/bare_* link. It replaces
 * mbedTLS's default configuration entirely: what is not listed is not compiled.
 *
 * Variants (camera/sim/mbedtls.cmake), chosen by a vcam profile's `pem` field:
 *   TM_MBEDTLS_PEM=0  OpenMV: DER only (§0: PEM came to bare-metal ports after
 *                     OpenMV's last MicroPython bump);
 *   TM_MBEDTLS_PEM=1  PEM compiled in, as on MicroPython's unix port (§7).
 *
 * Where the host build departs from the firmware, and why (none changes what TLS
 * does on the wire or what a user sees):
 *   - the RTC is the vcam's simulated clock through MBEDTLS_PLATFORM_TIME_ALT
 *     (the firmware: MBEDTLS_PLATFORM_TIME_MACRO = the port's RTC read as UTC);
 *   - entropy comes from the host (the firmware: MBEDTLS_ENTROPY_HARDWARE_ALT);
 *   - libc's calloc/free by default, replaceable at run time through
 *     MBEDTLS_PLATFORM_MEMORY (the firmware: the GC heap via m_tracked_calloc);
 *   - MBEDTLS_VERSION_C, so `vcam --version` can ask the library itself. */
#ifndef TM_MBEDTLS_CONFIG_H
#define TM_MBEDTLS_CONFIG_H

#ifndef TM_MBEDTLS_PEM
#error "TM_MBEDTLS_PEM must be 0 or 1 (set by camera/sim/mbedtls.cmake)"
#endif

/* ---- extmod/mbedtls/mbedtls_config_common.h ---------------------------------- */
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_DEPRECATED_REMOVED
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_CIPHER_MODE_CBC
#define MBEDTLS_ECP_DP_SECP192R1_ENABLED
#define MBEDTLS_ECP_DP_SECP224R1_ENABLED
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_SECP521R1_ENABLED
#define MBEDTLS_ECP_DP_SECP192K1_ENABLED
#define MBEDTLS_ECP_DP_SECP224K1_ENABLED
#define MBEDTLS_ECP_DP_SECP256K1_ENABLED
#define MBEDTLS_KEY_EXCHANGE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_CAN_ECDH
#define MBEDTLS_PK_CAN_ECDSA_SIGN
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_SERVER_NAME_INDICATION

/* §3 Records: incoming 16384, outgoing 4096 (the firmware's smaller out buffer). */
#define MBEDTLS_SSL_MAX_CONTENT_LEN (16384)
#define MBEDTLS_SSL_IN_CONTENT_LEN (MBEDTLS_SSL_MAX_CONTENT_LEN)
#define MBEDTLS_SSL_OUT_CONTENT_LEN (4096)

#define MBEDTLS_AES_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_ERROR_C
#define MBEDTLS_GCM_C
#define MBEDTLS_MD_C
#define MBEDTLS_MD5_C
#define MBEDTLS_OID_C
#define MBEDTLS_PKCS5_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_HAVE_ECC_KEYS
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_RSA_C
#define MBEDTLS_SHA1_C
#define MBEDTLS_SHA224_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_USE_C

/* DTLS (§1.8, merged 2025-02 / 2025-07): HelloVerify with the context's cookies,
 * anti-replay on, no Connection ID. */
#define MBEDTLS_SSL_PROTO_DTLS
#define MBEDTLS_SSL_DTLS_HELLO_VERIFY
#define MBEDTLS_SSL_DTLS_ANTI_REPLAY
#define MBEDTLS_SSL_COOKIE_C

/* PEM: the one switch between the variants (§0, §7). */
#if TM_MBEDTLS_PEM
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#endif

/* ---- bare-metal part (MICROPY_MBEDTLS_CONFIG_BARE_METAL), host equivalents ---- */
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_TIME_ALT

/* ---- host additions ------------------------------------------------------------ */
#define MBEDTLS_VERSION_C

#endif
