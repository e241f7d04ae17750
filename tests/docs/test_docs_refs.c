/* The repository's references stand on their own: every `docs/device-model.md §N(.M)`
 * cited in a tracked file names a section docs/device-model.md has, outside docs/ the
 * model is named by that path (readable from any file), and no tracked file points
 * outside the clone (../shared, a DESIGN.md or STYLE.md that is not under
 * docs/, an absolute /work/ path, or a /tmp/ path outside tests/ that is not a
 * mkstemp template).
 *
 * Which `§` belongs to which document: a `§N` token refers to the document the file
 * named last before it (a `NAME.md`, "contracts", "RFC", or "DM", the agent's short
 * name for the device model). docs/device-model.md refers to itself until it names
 * another document. The sections of the model are its numbered headings (`## 2.`,
 * `### 2.1`) and the unindented numbered items under a heading (item 14 under `## 6.`
 * is §6.14). The planted-tree tests check that a bad reference is really reported. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_proc.h"
#include "tm_time.h"

#define MODEL "docs/device-model.md"
/* This file holds the bad references the planted tests write out. */
#define SELF "tests/docs/test_docs_refs.c"
#define MAX_FILE (4u << 20)
#define SEC_LEN 24

enum ref_code {
    REF_NO_SECTION,   /* a device-model citation names a section the model lacks */
    REF_SHARED_DIR,   /* ../shared */
    REF_DESIGN_DOC,   /* DESIGN.md or STYLE.md that is not docs/… */
    REF_ABS_PATH,     /* /work/… anywhere, /tmp/… outside tests/ */
    REF_NO_MODEL,     /* docs/device-model.md missing or without sections */
    REF_MODEL_PATH,   /* outside docs/, the model named other than docs/device-model.md */
};

struct ref_problem {
    enum ref_code code;
    char file[256];
    unsigned line;
    char what[64];
};

struct ref_scan {
    char (*secs)[SEC_LEN]; /* sections of the model */
    size_t nsecs, capsecs;
    struct ref_problem *probs;
    size_t nprobs, capprobs;
};

enum cur_doc { DOC_NONE, DOC_MODEL, DOC_OTHER };

static void problem(struct ref_scan *sc, enum ref_code code, const char *file,
                    unsigned line, const char *what, size_t what_len)
{
    if (sc->nprobs == sc->capprobs) {
        sc->capprobs = sc->capprobs ? 2 * sc->capprobs : 16;
        sc->probs = realloc(sc->probs, sc->capprobs * sizeof *sc->probs);
        ck_assert_ptr_nonnull(sc->probs);
    }
    struct ref_problem *p = &sc->probs[sc->nprobs++];
    p->code = code;
    snprintf(p->file, sizeof p->file, "%s", file);
    p->line = line;
    snprintf(p->what, sizeof p->what, "%.*s", (int)what_len, what);
}

static void section_add(struct ref_scan *sc, const char *sec)
{
    if (sc->nsecs == sc->capsecs) {
        sc->capsecs = sc->capsecs ? 2 * sc->capsecs : 64;
        sc->secs = realloc(sc->secs, sc->capsecs * sizeof *sc->secs);
        ck_assert_ptr_nonnull(sc->secs);
    }
    snprintf(sc->secs[sc->nsecs++], SEC_LEN, "%s", sec);
}

static int section_has(const struct ref_scan *sc, const char *sec)
{
    for (size_t i = 0; i < sc->nsecs; i++)
        if (strcmp(sc->secs[i], sec) == 0)
            return 1;
    return 0;
}

static void scan_free(struct ref_scan *sc)
{
    free(sc->secs);
    free(sc->probs);
    memset(sc, 0, sizeof *sc);
}

/* A section number `\d+(\.\d+)*` at s (not followed by a further digit group): its
 * length, copied into out; 0 when s holds none or it does not fit. */
static size_t sec_number(const char *s, char out[SEC_LEN])
{
    size_t n = 0;
    while (isdigit((unsigned char)s[n]) ||
           (s[n] == '.' && n > 0 && isdigit((unsigned char)s[n - 1]) &&
            isdigit((unsigned char)s[n + 1])))
        n++;
    if (n == 0 || n >= SEC_LEN)
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

/* Headings `#… N.M Title` and unindented items `K. text` under heading N (§N.K). */
static void model_sections(struct ref_scan *sc, const char *text)
{
    char cur[SEC_LEN] = "";
    for (const char *l = text; *l; ) {
        const char *eol = strchr(l, '\n');
        size_t h = 0;
        char num[SEC_LEN];
        while (l[h] == '#')
            h++;
        if (h > 0 && l[h] == ' ') {
            size_t n = sec_number(l + h + 1, num);
            char after = n ? l[h + 1 + n] : 'x';
            if (n && (after == '.' || after == ' ' || after == '\n' || after == '\0')) {
                section_add(sc, num);
                snprintf(cur, sizeof cur, "%s", num);
            }
        } else if (cur[0] && isdigit((unsigned char)l[0])) {
            size_t n = 0;
            while (isdigit((unsigned char)l[n]))
                n++;
            if (l[n] == '.' && l[n + 1] == ' ' && strlen(cur) + 1 + n < SEC_LEN) {
                char item[SEC_LEN];
                size_t cl = strlen(cur);
                memcpy(item, cur, cl);
                item[cl] = '.';
                memcpy(item + cl + 1, l, n);
                item[cl + 1 + n] = '\0';
                section_add(sc, item);
            }
        }
        if (!eol)
            break;
        l = eol + 1;
    }
}

static int word_at(const char *s, size_t i, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(s + i, w, n) != 0)
        return 0;
    if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_' || s[i - 1] == '/'))
        return 0;
    return !(isalnum((unsigned char)s[i + n]) || s[i + n] == '_');
}

/* The document a name at s[i] designates, or DOC_NONE when there is no name there;
 * *start: where the name begins. */
static enum cur_doc doc_name_at(const char *s, size_t i, size_t *start)
{
    *start = i;
    if (s[i] == '.' && i > 0 && strncmp(s + i + 1, "md", 2) == 0 &&
        !isalnum((unsigned char)s[i + 3])) {
        size_t k = i;
        while (k > 0 && (isalnum((unsigned char)s[k - 1]) || strchr("_./-", s[k - 1])))
            k--;
        size_t len = i + 3 - k;
        const char *tail = "device-model.md";
        size_t tl = strlen(tail);
        *start = k;
        if (len >= tl && strncmp(s + i + 3 - tl, tail, tl) == 0)
            return DOC_MODEL;
        return DOC_OTHER;
    }
    if (word_at(s, i, "DM"))
        return DOC_MODEL;
    if (word_at(s, i, "contracts") || word_at(s, i, "RFC"))
        return DOC_OTHER;
    return DOC_NONE;
}

/* `§N`, `§N–M` or `§N-M` at s[i] (the § is two bytes): check each number when the
 * current document is the model. Returns the bytes consumed. */
static size_t section_ref(struct ref_scan *sc, const char *file, unsigned line,
                          const char *s, size_t i, enum cur_doc cur)
{
    size_t j = i + 2;
    while (s[j] == ' ')
        j++;
    char num[SEC_LEN];
    size_t n = sec_number(s + j, num);
    if (n == 0)
        return 2;
    if (cur == DOC_MODEL && !section_has(sc, num))
        problem(sc, REF_NO_SECTION, file, line, s + i, j + n - i);
    j += n;
    size_t dash = strncmp(s + j, "\xe2\x80\x93", 3) == 0 ? 3 : s[j] == '-' ? 1 : 0;
    size_t m = dash ? sec_number(s + j + dash, num) : 0;
    if (m == 0)
        return j - i;
    if (cur == DOC_MODEL && !section_has(sc, num))
        problem(sc, REF_NO_SECTION, file, line, s + i, j + dash + m - i);
    return j + dash + m - i;
}

static int path_char(char c)
{
    return isalnum((unsigned char)c) || strchr("_.~/-", c) != NULL;
}

/* An absolute /work/ or /tmp/ path starting at s[i]. A /tmp/ path is fine in tests/
 * and as a mkstemp/mkdtemp template (it ends in XXXXXX). */
static int abs_path_at(const char *file, const char *s, size_t i)
{
    if (i > 0 && path_char(s[i - 1]))
        return 0;
    if (strncmp(s + i, "/work/", 6) == 0)
        return 1;
    if (strncmp(s + i, "/tmp/", 5) != 0 || strncmp(file, "tests/", 6) == 0)
        return 0;
    size_t e = i;
    while (path_char(s[e]))
        e++;
    return !(e - i >= 6 && strncmp(s + e - 6, "XXXXXX", 6) == 0);
}

static int design_doc_at(const char *s, size_t i)
{
    if (strncmp(s + i, "DESIGN.md", 9) != 0 && strncmp(s + i, "STYLE.md", 8) != 0)
        return 0;
    if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_'))
        return 0;
    return !(i >= 5 && strncmp(s + i - 5, "docs/", 5) == 0);
}

static void scan_text(struct ref_scan *sc, const char *file, const char *s)
{
    enum cur_doc cur = strcmp(file, MODEL) == 0 ? DOC_MODEL : DOC_NONE;
    unsigned line = 1;
    for (size_t i = 0; s[i]; ) {
        if (s[i] == '\n')
            line++;
        if ((unsigned char)s[i] == 0xc2 && (unsigned char)s[i + 1] == 0xa7) {
            i += section_ref(sc, file, line, s, i, cur);
            continue;
        }
        size_t name = i;
        enum cur_doc d = doc_name_at(s, i, &name);
        if (d != DOC_NONE)
            cur = d;
        /* DM is agent.py's short name, defined next to the full path */
        if (d == DOC_MODEL && s[i] == '.' && strncmp(file, "docs/", 5) != 0 &&
            strncmp(s + name, MODEL, strlen(MODEL)) != 0)
            problem(sc, REF_MODEL_PATH, file, line, s + name, i + 3 - name);
        if (strncmp(s + i, "../shared", 9) == 0)
            problem(sc, REF_SHARED_DIR, file, line, s + i, 9);
        if (design_doc_at(s, i))
            problem(sc, REF_DESIGN_DOC, file, line, s + i, s[i] == 'D' ? 9 : 8);
        if (abs_path_at(file, s, i))
            problem(sc, REF_ABS_PATH, file, line, s + i, strcspn(s + i, " \t\n\"'`)"));
        i++;
    }
}

static void scan_file(struct ref_scan *sc, const char *root, const char *rel)
{
    if (strcmp(rel, SELF) == 0)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    unsigned char *data = NULL;
    size_t len = 0;
    struct tm_err err;
    if (tm_read_file(path, &data, &len, &err) != 0)
        return; /* deleted in the work tree, a dangling link, a directory (submodule) */
    if (len <= MAX_FILE && memchr(data, '\0', len) == NULL) /* text files only */
        scan_text(sc, rel, (const char *)data);
    free(data);
}

/* Tracked files of the checkout at root, one per line into *out; 0 when git lists them. */
static int git_files(const char *root, char **out, size_t *len)
{
    char *argv[] = { "git", "-C", (char *)root, "-c", "core.quotePath=off", "ls-files",
                     NULL };
    struct tm_proc p;
    struct tm_err err;
    if (tm_proc_spawn(&p, argv, "/dev/null", &err) != 0)
        return -1;
    struct tm_lines lr;
    tm_lines_init(&lr, p.out_fd, 4096);
    FILE *f = open_memstream(out, len);
    ck_assert_ptr_nonnull(f);
    tm_ms deadline = tm_deadline_in(20000);
    char *l = NULL;
    int r;
    while ((r = tm_lines_read(&lr, deadline, &l, &err)) == 1) {
        fprintf(f, "%s\n", l);
        free(l);
    }
    fclose(f);
    tm_lines_free(&lr);
    tm_proc_wait(&p, deadline);
    tm_proc_stop(&p, 500);
    if (r != -1 || tm_proc_exit_code(&p) != 0 || *len == 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Without git (an unpacked tarball, the planted trees): every regular file under
 * root but build trees, results and VCS metadata; symbolic links are not followed. */
static int walk_skips(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, ".git") == 0 ||
           strcmp(name, "build") == 0 || strncmp(name, "build-", 6) == 0 ||
           strcmp(name, "results") == 0 || strcmp(name, "node_modules") == 0;
}

static void walk_dir(struct ref_scan *sc, const char *root, const char *rel, int depth)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (walk_skips(e->d_name))
            continue;
        char sub[4096], full[2 * 4096 + 2];
        struct stat st;
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        if (lstat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 32) /* bounded: no tree here is that deep */
            walk_dir(sc, root, sub, depth + 1);
        else if (S_ISREG(st.st_mode))
            scan_file(sc, root, sub);
    }
    closedir(d);
}

/* Scan the tree at root; use_git: list tracked files with git (else walk the tree). */
static void scan_tree(struct ref_scan *sc, const char *root, int use_git)
{
    char model[4096];
    snprintf(model, sizeof model, "%s/%s", root, MODEL);
    unsigned char *text = NULL;
    size_t len = 0;
    struct tm_err err;
    if (tm_read_file(model, &text, &len, &err) == 0)
        model_sections(sc, (const char *)text);
    free(text);
    if (sc->nsecs == 0)
        problem(sc, REF_NO_MODEL, MODEL, 0, "no numbered sections", 20);

    char *files = NULL;
    if (use_git && git_files(root, &files, &len) == 0) {
        for (char *f = files, *nl; (nl = strchr(f, '\n')) != NULL; f = nl + 1) {
            *nl = '\0';
            scan_file(sc, root, f);
        }
        free(files);
        return;
    }
    walk_dir(sc, root, "", 0);
}

static char *problems_text(const struct ref_scan *sc)
{
    static const char *const names[] = { ("no such section in " MODEL), "points to ../shared",
                                         "DESIGN.md/STYLE.md outside docs/",
                                         "absolute path of one machine",
                                         "no device model",
                                         "name the model docs/device-model.md" };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < sc->nprobs; i++)
        fprintf(f, "\n  %s:%u: %s: %s", sc->probs[i].file, sc->probs[i].line,
                names[sc->probs[i].code], sc->probs[i].what);
    fclose(f);
    return buf;
}

static size_t count(const struct ref_scan *sc, enum ref_code code, const char *file,
                    unsigned line)
{
    size_t n = 0;
    for (size_t i = 0; i < sc->nprobs; i++)
        n += sc->probs[i].code == code && strcmp(sc->probs[i].file, file) == 0 &&
             sc->probs[i].line == line;
    return n;
}

/* ---- planted trees ---------------------------------------------------------- */

static char g_tmp[] = "/tmp/tm-docs-refs-XXXXXX"; /* one per test process (fork mode) */

static void plant(const char *rel, const char *text)
{
    char path[4096], dir[4096];
    struct tm_err err;
    snprintf(path, sizeof path, "%s/%s", g_tmp, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    ck_assert_msg(tm_mkdirs(dir, 0700, &err) == 0, "%s", err.msg);
    ck_assert_msg(tm_write_file(path, text, strlen(text), 0600, &err) == 0, "%s", err.msg);
}

static void planted_setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(g_tmp));
    plant(MODEL, "# Model\n\n## 1. Surface\n\n### 1.1 Layers\n\n## 6. Probes\n\n"
                 "1. first\n2. second\n   3. indented, not a section\n");
}

static void planted_teardown(void)
{
    struct tm_err err;
    tm_rmtree(g_tmp, &err);
}

/* ---- tests -------------------------------------------------------------------- */

/* The repository itself: every citation resolves, nothing points outside. */
START_TEST(repository_references_resolve)
{
    const char *root = getenv("TM_SOURCE_DIR") ? getenv("TM_SOURCE_DIR") : TM_SOURCE_DIR;
    struct ref_scan sc = { 0 };
    scan_tree(&sc, root, 1);
    char *msg = problems_text(&sc);
    ck_assert_msg(sc.nprobs == 0, "%zu bad references:%s", sc.nprobs, msg);
    free(msg);
    scan_free(&sc);
}
END_TEST

/* The model's numbering as this test reads it: headings, and the probe list of §6. */
START_TEST(model_sections_as_cited)
{
    const char *root = getenv("TM_SOURCE_DIR") ? getenv("TM_SOURCE_DIR") : TM_SOURCE_DIR;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, MODEL);
    unsigned char *text = NULL;
    size_t len = 0;
    struct tm_err err;
    ck_assert_msg(tm_read_file(path, &text, &len, &err) == 0, "%s", err.msg);
    struct ref_scan sc = { 0 };
    model_sections(&sc, (const char *)text);
    static const char *const want[] = { "0", "1", "1.1", "1.8", "2.1", "2.3", "3", "4.1",
                                        "4.4", "5", "5.1", "5.6", "6", "6.1", "6.35", "6.42", "7",
                                        "8" };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ck_assert_msg(section_has(&sc, want[i]), "%s has no §%s", MODEL, want[i]);
    ck_assert(!section_has(&sc, "6.43"));
    ck_assert(!section_has(&sc, "1.9"));
    free(text);
    scan_free(&sc);
}
END_TEST

START_TEST(planted_bad_citation_is_reported)
{
    plant("camera/a.c", "/* see docs/device-model.md §1.1 and §1.2 */\n"
                        "/* DM: docs/device-model.md */\n"
                        "x = 1  # (DM §6.2, §6.3)\n"
                        "/* docs/contracts.md §9, RFC 6347 §4.2.1 */\n"
                        "/* docs/device-model.md §1–6, §1–7 */\n"
                        "/* device-model.md §1.1, ../docs/device-model.md §1.1 */\n");
    plant("docs/guide.md", "See [the model](device-model.md), device-model.md §1.1.\n");
    plant("scenarios/b.yaml", "doc: docs/device-model.md §6.1 and §6 (probes), §1.1.\n"
                              "# docs/device-model.md §6.3\n");
    struct ref_scan sc = { 0 };
    scan_tree(&sc, g_tmp, 0);
    char *msg = problems_text(&sc);
    ck_assert_msg(sc.nprobs == 6, "want 6 problems, got %zu:%s", sc.nprobs, msg);
    ck_assert_uint_eq(count(&sc, REF_NO_SECTION, "camera/a.c", 1), 1);  /* §1.2 */
    ck_assert_uint_eq(count(&sc, REF_NO_SECTION, "camera/a.c", 3), 1);  /* §6.3 */
    ck_assert_uint_eq(count(&sc, REF_NO_SECTION, "camera/a.c", 5), 1);  /* §1–7 */
    ck_assert_uint_eq(count(&sc, REF_NO_SECTION, "scenarios/b.yaml", 2), 1);
    ck_assert_uint_eq(count(&sc, REF_MODEL_PATH, "camera/a.c", 6), 2);
    free(msg);
    scan_free(&sc);
}
END_TEST

START_TEST(planted_outside_references_are_reported)
{
    plant("docs/contracts.md", "See ../shared/DESIGN.md for the map.\n"
                               "Fine: docs/DESIGN.md, https://example.org/work/x.\n");
    plant("harness/x.c", "/* (STYLE.md) */\n"
                         "static const char *p = \"/work/shared/device-model.md\";\n"
                         "char t[] = \"/tmp/tm-x-XXXXXX\";\n"
                         "const char *log = \"/tmp/fixed.log\";\n");
    plant("tests/y.c", "const char *log = \"/tmp/fixed.log\";  /* tests may */\n");
    plant("README.md", "Run from $HOME/work/tlsmatrix or ./work/x.\n");
    struct ref_scan sc = { 0 };
    scan_tree(&sc, g_tmp, 0);
    char *msg = problems_text(&sc);
    ck_assert_msg(sc.nprobs == 6, "want 6 problems, got %zu:%s", sc.nprobs, msg);
    ck_assert_uint_eq(count(&sc, REF_SHARED_DIR, "docs/contracts.md", 1), 1);
    ck_assert_uint_eq(count(&sc, REF_DESIGN_DOC, "docs/contracts.md", 1), 1);
    ck_assert_uint_eq(count(&sc, REF_DESIGN_DOC, "harness/x.c", 1), 1);
    ck_assert_uint_eq(count(&sc, REF_ABS_PATH, "harness/x.c", 2), 1);
    ck_assert_uint_eq(count(&sc, REF_MODEL_PATH, "harness/x.c", 2), 1);
    ck_assert_uint_eq(count(&sc, REF_ABS_PATH, "harness/x.c", 4), 1);
    free(msg);
    scan_free(&sc);
}
END_TEST

START_TEST(planted_tree_without_model_is_reported)
{
    planted_teardown();
    ck_assert_int_eq(mkdir(g_tmp, 0700), 0);
    plant("a.c", "/* docs/device-model.md §1 */\n");
    struct ref_scan sc = { 0 };
    scan_tree(&sc, g_tmp, 0);
    ck_assert_uint_eq(count(&sc, REF_NO_MODEL, MODEL, 0), 1);
    ck_assert_uint_eq(count(&sc, REF_NO_SECTION, "a.c", 1), 1);
    scan_free(&sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("docs");
    TCase *tc = tcase_create("repository");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, repository_references_resolve);
    tcase_add_test(tc, model_sections_as_cited);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("planted");
    tcase_set_timeout(tp, 20);
    tcase_add_checked_fixture(tp, planted_setup, planted_teardown);
    tcase_add_test(tp, planted_bad_citation_is_reported);
    tcase_add_test(tp, planted_outside_references_are_reported);
    tcase_add_test(tp, planted_tree_without_model_is_reported);
    suite_add_tcase(s, tp);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
