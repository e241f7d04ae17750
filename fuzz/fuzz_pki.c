/* PKI description reader (pkigen's --desc): read, expand, resolve, select. */
#include "fuzz.h"
#include "pkigen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pki_desc d;
    struct tm_err err = { 0 };
    if (pki_desc_load(&d, fuzz_file("pki.yaml", data, size), &err) == 0) {
        char *only[] = { "p256-server" };
        pki_desc_select(&d, NULL, 0, &err);
        pki_desc_select(&d, only, 1, &err);
    }
    pki_desc_free(&d);
    return 0;
}
