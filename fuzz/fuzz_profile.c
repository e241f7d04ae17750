/* Profile reader: one profile file (f.yaml, so `name: f` loads) and its globs. */
#include <jansson.h>

#include "fuzz.h"
#include "profile/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tm_err err = { 0 };
    json_t *p = profile_load(fuzz_file("f.yaml", data, size), &err);
    profile_xfail_for(p, "client-verify-optional-a/openssl/p256/tls");
    profile_xfail_for(p, "server-x/gnutls/rsa2048/dtls");
    json_decref(p);
    return 0;
}
