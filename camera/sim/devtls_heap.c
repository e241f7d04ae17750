/* The simulated GC heap (docs/device-model.md §3, Entropy/memory): the firmware builds
 * mbedTLS with MBEDTLS_PLATFORM_MEMORY and allocates it on the GC heap, so here every
 * mbedTLS allocation goes through these hooks and is charged to the running
 * operation's account, capped at the heap the profile leaves free. Running out makes
 * calloc return NULL, and mbedTLS answers with its own *_ALLOC_FAILED, which the
 * device raises (OSError(12) for SSL_ALLOC_FAILED, §2.1). Sizes are the host's
 * (64-bit structures are larger than the device's); the record buffers, the bulk of
 * it, are the same. Objects MicroPython itself allocates (the SSLContext and SSLSocket
 * objects) are charged by devtls with their host sizes. */
#include <stdint.h>
#include <stdlib.h>

#include <mbedtls/platform.h>

#include "devtls_int.h"

#define GC_BLOCK 16   /* MicroPython's allocation unit on 32-bit ports */

/* In front of every block: whom it was charged to, and how much. 16 bytes, so the
 * block after it keeps calloc's alignment. */
struct block {
    struct devtls_heap *heap;
    size_t charged;
};

/* The account of the operation running on this thread (mbedTLS's hooks take no
 * context); NULL outside devtls_run: allocations are then not charged. */
static _Thread_local struct devtls_heap *t_heap;

int devtls_heap_charge(struct devtls_heap *h, long n)
{
    if (h->in_use + n > h->total)
        return -1;
    h->in_use += n;
    if (h->in_use > h->peak)
        h->peak = h->in_use;
    return 0;
}

void devtls_heap_release(struct devtls_heap *h, long n)
{
    h->in_use -= n;
}

static void *heap_calloc(size_t n, size_t size)
{
    if (size != 0 && n > (SIZE_MAX - sizeof(struct block) - GC_BLOCK) / size)
        return NULL;
    size_t bytes = n * size;
    size_t charge = (bytes + GC_BLOCK - 1) / GC_BLOCK * GC_BLOCK;
    struct devtls_heap *h = t_heap;
    if (h != NULL && devtls_heap_charge(h, (long)charge) != 0)
        return NULL;
    struct block *b = calloc(1, sizeof *b + bytes);
    if (b == NULL) {
        if (h != NULL)
            devtls_heap_release(h, (long)charge);
        return NULL;
    }
    b->heap = h;
    b->charged = h != NULL ? charge : 0;
    return b + 1;
}

static void heap_free(void *p)
{
    if (p == NULL)
        return;
    struct block *b = (struct block *)p - 1;
    if (b->heap != NULL)
        devtls_heap_release(b->heap, (long)b->charged);
    free(b);
}

/* Installed before main, so no block mbedTLS frees was allocated without a header. */
__attribute__((constructor)) static void install_hooks(void)
{
    mbedtls_platform_set_calloc_free(heap_calloc, heap_free);
}

void devtls_heap_enter(struct devtls_heap *h)
{
    t_heap = h;
}

void devtls_heap_leave(void)
{
    t_heap = NULL;
}

int devtls_heap_has(long n)
{
    return t_heap == NULL || t_heap->in_use + n <= t_heap->total;
}
