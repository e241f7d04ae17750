/* The peer's own RSA key for a limbo case: the smallest modulus of the leaf's size.
 *
 * The peer signs with a key of its own, so the device's check of that signature
 * must fail, and always the same way. An RSA signature is a number below the
 * signer's modulus; the device computes it to the power e modulo the
 * certificate's modulus, and a number not below that modulus is refused as bad
 * input (MBEDTLS_ERR_RSA_PUBLIC_FAILED) instead of a failed verification. With a
 * random key of the same size that happened in a share of the runs that depends
 * on the two moduli and the handshake's random values. A modulus just above
 * 2^(bits-1) is below that of any real certificate of that size, so the check
 * always reaches the comparison and fails as rsa-verify-failed.
 *
 * p and q are the first two primes above sqrt(2^(bits-1)) (with gcd(e, p-1) = 1):
 * fixed, public and useless as a secret, which this key never is. */
#include "limbo_internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#define PRIME_TRIES 200000   /* prime gaps at 4096 bits are a few thousand */

/* floor(sqrt(r)) by Newton's method from above; bounded by r's size. */
static BIGNUM *isqrt(const BIGNUM *r, BN_CTX *ctx)
{
    BIGNUM *x = BN_new(), *y = BN_new();
    int ok = x && y && BN_set_bit(x, (BN_num_bits(r) + 1) / 2 + 1);
    for (int i = 0; ok && i < 4 * BN_num_bits(r) + 8; i++) {
        /* y = (x + r / x) / 2; stop when it no longer decreases */
        ok = BN_div(y, NULL, r, x, ctx) && BN_add(y, y, x) && BN_rshift1(y, y);
        if (!ok || BN_cmp(y, x) >= 0)
            break;
        ok = BN_copy(x, y) != NULL;
    }
    BN_free(y);
    if (!ok)
        BN_free(x);
    return ok ? x : NULL;
}

/* The first prime p >= from with gcd(e, p - 1) = 1, into from; 0 on success. */
static int next_prime(BIGNUM *from, const BIGNUM *e, BN_CTX *ctx)
{
    BIGNUM *pm1 = BN_new(), *g = BN_new();
    int rc = -1;
    if (pm1 && g && (BN_is_odd(from) || BN_add_word(from, 1)))
        for (int i = 0; i < PRIME_TRIES; i++) {
            if (BN_check_prime(from, ctx, NULL) == 1 && BN_copy(pm1, from)
                && BN_sub_word(pm1, 1) && BN_gcd(g, pm1, e, ctx) && BN_is_one(g)) {
                rc = 0;
                break;
            }
            if (!BN_add_word(from, 2))
                break;
        }
    BN_free(pm1);
    BN_free(g);
    return rc;
}

/* The key from its primes: n, d and the CRT values as OpenSSL wants them. */
static EVP_PKEY *key_of(const BIGNUM *p, const BIGNUM *q, const BIGNUM *e, BN_CTX *ctx)
{
    BIGNUM *n = BN_new(), *phi = BN_new(), *pm1 = BN_new(), *qm1 = BN_new(), *d = BN_new(),
           *dp = BN_new(), *dq = BN_new(), *qinv = BN_new();
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pc = NULL;
    EVP_PKEY *k = NULL;
    int ok = n && phi && pm1 && qm1 && d && dp && dq && qinv && b && BN_mul(n, p, q, ctx)
             && BN_sub(pm1, p, BN_value_one()) && BN_sub(qm1, q, BN_value_one())
             && BN_mul(phi, pm1, qm1, ctx) && BN_mod_inverse(d, e, phi, ctx)
             && BN_mod(dp, d, pm1, ctx) && BN_mod(dq, d, qm1, ctx)
             && BN_mod_inverse(qinv, q, p, ctx)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_D, d)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR1, p)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR2, q)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qinv)
             && (params = OSSL_PARAM_BLD_to_param(b)) != NULL
             && (pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL
             && EVP_PKEY_fromdata_init(pc) == 1;
    if (ok && EVP_PKEY_fromdata(pc, &k, EVP_PKEY_KEYPAIR, params) != 1)
        k = NULL;
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    BN_free(n), BN_free(phi), BN_free(pm1), BN_free(qm1);
    BN_clear_free(d), BN_clear_free(dp), BN_clear_free(dq), BN_clear_free(qinv);
    return k;
}

EVP_PKEY *limbo_rsa_floor_key(int bits)
{
    if (bits < 512 || bits > 16384)
        return NULL;
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *floor_n = BN_new(), *e = BN_new(), *p = NULL, *q = BN_new();
    EVP_PKEY *k = NULL;
    /* p, q > sqrt(2^(bits-1)): n has exactly `bits` bits, and n - 2^(bits-1) is
     * about 2^(bits/2) times the prime gap, far below any random modulus. */
    if (ctx && floor_n && e && q && BN_set_bit(floor_n, bits - 1) && BN_set_word(e, 65537)
        && (p = isqrt(floor_n, ctx)) != NULL && BN_add_word(p, 1)
        && next_prime(p, e, ctx) == 0 && BN_copy(q, p) && BN_add_word(q, 2)
        && next_prime(q, e, ctx) == 0)
        k = key_of(p, q, e, ctx);
    BN_free(floor_n);
    BN_free(e);
    BN_free(p);
    BN_free(q);
    BN_CTX_free(ctx);
    return k;
}
