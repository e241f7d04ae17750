/* The stored agent's loader and writer programs (tm_agentfile.h). The text is
 * Python for MicroPython's raw REPL; tests/agent/test_agent_file.c runs both
 * under the real MicroPython unix port. */
#include "tm_agentfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hash the file in 512-byte pieces (no copy of it on the heap), then import it:
 * the lexer reads a module from the file system a little at a time, where
 * exec(open(...).read()) would first hold the whole source as one string
 * (docs/device-model.md §9). A failed import leaves nothing in sys.modules, and
 * a module still there from an interrupted agent is dropped first, so the
 * agent's code runs again. */
static const char LOADER_A[] =
    "import sys\n"
    "def _tm(p,w):\n"
    " try:import hashlib,binascii\n"
    " except ImportError:return 'nohash'\n"
    " h=hashlib.sha256()\n"
    " try:\n"
    "  with open(p,'rb') as f:\n"
    "   while 1:\n"
    "    b=f.read(512)\n"
    "    if not b:break\n"
    "    h.update(b)\n"
    " except OSError:return 'nofile'\n"
    " return binascii.hexlify(h.digest())==w or 'stale'\n"
    "_r=_tm('" TM_AF_FILE "',b'";
static const char LOADER_B[] =
    "')\n"
    "if _r is True:\n"
    " sys.modules.pop('tm_agent',0);import tm_agent\n"
    "else:\n"
    " if _r!='nohash':\n"
    "  try:_f=open('" TM_AF_TEMP "','wb')\n"
    "  except OSError as e:_r='nostore %d'%e.args[0]\n"
    " print('" TM_AF_MARK "'+_r)\n";

/* os.rename replaces the old file (MicroPython's FAT and littlefs alike,
 * docs/device-model.md §4.5), so there is always a whole file or none; a short
 * write (a full FAT returns fewer bytes, no error) is ENOSPC. */
static const char WRITER_A[] =
    "import os\n"
    "def _w(a,p,t):\n"
    " try:\n"
    "  if _f.write(a)!=len(a):raise OSError(28)\n"
    "  _f.close()\n"
    "  os.rename(t,p)\n"
    "  return 'stored'\n"
    " except OSError as e:\n"
    "  _f.close()\n"
    "  try:os.remove(t)\n"
    "  except OSError:pass\n"
    "  return 'nostore %d'%e.args[0]\n"
    "print('" TM_AF_MARK "'+_w(";
static const char WRITER_B[] = ",'" TM_AF_FILE "','" TM_AF_TEMP "'))\n";
static const char LIT_OPEN[] = "b\"\"\"";
static const char LIT_CLOSE[] = "\"\"\"";

static int is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static char *concat3(const char *a, const char *b, size_t blen, const char *c)
{
    size_t na = strlen(a), nc = strlen(c);
    char *p = malloc(na + blen + nc + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, a, na);
    memcpy(p + na, b, blen);
    memcpy(p + na + blen, c, nc + 1);
    return p;
}

char *tm_af_loader(const char *sha_hex)
{
    if (sha_hex == NULL || !is_hex64(sha_hex, strlen(sha_hex)))
        return NULL;
    return concat3(LOADER_A, sha_hex, 64, LOADER_B);
}

char *tm_af_writer_expr(const char *payload_expr)
{
    return concat3(WRITER_A, payload_expr, strlen(payload_expr), WRITER_B);
}

/* A triple-quoted bytes literal: tabs, newlines and printable ASCII as they are
 * (agent.py is almost all of that), backslash and quote escaped, anything else
 * as \xNN, so no raw-REPL control byte (Ctrl-A..E) is ever sent as data. */
char *tm_af_writer(const unsigned char *agent, size_t len)
{
    char *lit = malloc(strlen(LIT_OPEN) + len * 4 + strlen(LIT_CLOSE) + 1);
    if (lit == NULL)
        return NULL;
    size_t o = 0;
    memcpy(lit, LIT_OPEN, strlen(LIT_OPEN));
    o += strlen(LIT_OPEN);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = agent[i];
        if (c == '\\' || c == '"') {
            lit[o++] = '\\';
            lit[o++] = (char)c;
        } else if (c == '\t' || c == '\n' || (c >= 0x20 && c < 0x7f)) {
            lit[o++] = (char)c;
        } else {
            o += (size_t)snprintf(lit + o, 5, "\\x%02x", c);
        }
    }
    memcpy(lit + o, LIT_CLOSE, strlen(LIT_CLOSE) + 1);
    char *prog = tm_af_writer_expr(lit);
    free(lit);
    return prog;
}

static int hexval(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The inverse of tm_af_writer's escaping; -1 for anything it never writes. */
static long unescape(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            return -1;
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        if (i + 1 >= n)
            return -1;
        unsigned char e = s[++i];
        if (e == '\\' || e == '"') {
            out[o++] = e;
        } else if (e == 'x' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        } else {
            return -1;
        }
    }
    return (long)o;
}

static int has_affixes(const unsigned char *code, size_t len, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    return len >= na + nb && memcmp(code, a, na) == 0 && memcmp(code + len - nb, b, nb) == 0;
}

static int parse_writer(const unsigned char *code, size_t len, struct tm_af_prog *out)
{
    size_t na = strlen(WRITER_A) + strlen(LIT_OPEN), nb = strlen(LIT_CLOSE) + strlen(WRITER_B);
    if (len < na + nb || memcmp(code + strlen(WRITER_A), LIT_OPEN, strlen(LIT_OPEN)) != 0
        || memcmp(code + len - nb, LIT_CLOSE, strlen(LIT_CLOSE)) != 0)
        return 0;
    size_t n = len - na - nb;
    unsigned char *p = malloc(n + 1);
    if (p == NULL)
        return -1;
    long got = unescape(code + na, n, p);
    if (got < 0) {
        free(p);
        return 0;
    }
    out->kind = TM_AF_WRITER;
    out->payload = p;
    out->payload_len = (size_t)got;
    return 0;
}

int tm_af_parse(const unsigned char *code, size_t len, struct tm_af_prog *out)
{
    memset(out, 0, sizeof *out);
    if (has_affixes(code, len, LOADER_A, LOADER_B)) {
        const char *h = (const char *)code + strlen(LOADER_A);
        if (is_hex64(h, len - strlen(LOADER_A) - strlen(LOADER_B))) {
            memcpy(out->sha_hex, h, 64);
            out->kind = TM_AF_LOADER;
        }
        return 0;
    }
    if (has_affixes(code, len, WRITER_A, WRITER_B))
        return parse_writer(code, len, out);
    return 0;
}

void tm_af_prog_free(struct tm_af_prog *p)
{
    free(p->payload);
    memset(p, 0, sizeof *p);
}

enum tm_af_status tm_af_status_parse(const char *text, int *eno)
{
    static const struct { const char *word; enum tm_af_status st; } words[] = {
        { "nofile", TM_AF_ST_NOFILE }, { "stale", TM_AF_ST_STALE },
        { "nohash", TM_AF_ST_NOHASH }, { "stored", TM_AF_ST_STORED },
    };
    *eno = 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(text, words[i].word) == 0)
            return words[i].st;
    int n = 0;
    if (sscanf(text, "nostore %d%n", eno, &n) == 1 && text[n] == '\0')
        return TM_AF_ST_NOSTORE;
    *eno = 0;
    return TM_AF_ST_UNKNOWN;
}
