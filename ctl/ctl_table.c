#include "ctl_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CTL_TABLE_MAX_COLS 24

typedef struct {
    char *header;
    char *key;
    int flags;
    int max_width;
} s_col_t;

struct ctl_table {
    s_col_t cols[CTL_TABLE_MAX_COLS];
    int ncols;
    char ***rows; /* rows[r][c], NULL = no value */
    size_t nrows, cap;
};

/* Sorted, non-overlapping ranges of code points. */
typedef struct {
    unsigned long lo, hi;
} s_range_t;

static const s_range_t s_zero_width[] = {
    {0x0300, 0x036F},   {0x0483, 0x0489},   {0x0591, 0x05BD},   {0x05BF, 0x05BF},
    {0x05C1, 0x05C2},   {0x05C4, 0x05C5},   {0x05C7, 0x05C7},   {0x0610, 0x061A},
    {0x064B, 0x065F},   {0x0670, 0x0670},   {0x06D6, 0x06DC},   {0x06DF, 0x06E4},
    {0x06E7, 0x06E8},   {0x06EA, 0x06ED},   {0x0E31, 0x0E31},   {0x0E34, 0x0E3A},
    {0x0E47, 0x0E4E},   {0x1160, 0x11FF},   {0x1AB0, 0x1AFF},   {0x1DC0, 0x1DFF},
    {0x200B, 0x200F},   {0x202A, 0x202E},   {0x2060, 0x2064},   {0x20D0, 0x20FF},
    {0xFE00, 0xFE0F},   {0xFE20, 0xFE2F},   {0xFEFF, 0xFEFF},   {0x1F3FB, 0x1F3FF},
    {0xE0000, 0xE007F}, {0xE0100, 0xE01EF},
};

static const s_range_t s_wide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18AFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
    {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F251}, {0x1F300, 0x1F3FA},
    {0x1F400, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF},
    {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static int s_in(const s_range_t *r, size_t n, unsigned long cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int ctl_codepoint_width(unsigned long cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return 1; /* shown as a space */
    if (s_in(s_zero_width, sizeof s_zero_width / sizeof s_zero_width[0], cp)) return 0;
    if (s_in(s_wide, sizeof s_wide / sizeof s_wide[0], cp)) return 2;
    return 1;
}

/* Decodes one code point at s; sets *adv to its byte length. An invalid or
 * truncated sequence yields -1 with *adv = 1. */
static long s_decode(const unsigned char *s, size_t *adv)
{
    unsigned char c = s[0];
    size_t need;
    unsigned long cp;
    *adv = 1;
    if (c < 0x80) return c;
    if (c >= 0xC2 && c <= 0xDF) need = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) need = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) need = 3, cp = c & 0x07;
    else return -1;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xC0) != 0x80) return -1; /* also stops at the NUL */
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    *adv = need + 1;
    return (long)cp;
}

size_t ctl_utf8_width(const char *s)
{
    size_t w = 0, adv;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        long cp = s_decode(p, &adv);
        w += cp < 0 ? 1 : (size_t)ctl_codepoint_width((unsigned long)cp);
        p += adv;
    }
    return w;
}

size_t ctl_utf8_fit(const char *s, size_t max_width, char *buf, size_t len)
{
    static const char ellipsis[] = "\xE2\x80\xA6"; /* U+2026, width 1 */
    const unsigned char *p = (const unsigned char *)s;
    size_t total = ctl_utf8_width(s);
    int cut = max_width > 0 && total > max_width;
    size_t limit = cut ? max_width - 1 : total; /* room for the ellipsis */
    size_t w = 0, o = 0, adv;
    if (len < sizeof ellipsis) {
        if (len > 0) buf[0] = '\0';
        return 0;
    }
    while (*p) {
        long cp = s_decode(p, &adv);
        int cw = cp < 0 ? 1 : ctl_codepoint_width((unsigned long)cp);
        if (w + (size_t)cw > limit) break;
        if (o + adv + sizeof ellipsis > len) { /* the buffer is full: cut here too */
            cut = 1;
            break;
        }
        if (cp < 0) buf[o++] = '?';
        else if (cp < 0x20 || cp == 0x7F) buf[o++] = ' ';
        else if (cp >= 0x80 && cp < 0xA0) buf[o++] = ' ';
        else {
            memcpy(buf + o, p, adv);
            o += adv;
        }
        w += (size_t)cw;
        p += adv;
    }
    if (cut) {
        memcpy(buf + o, ellipsis, sizeof ellipsis); /* with its NUL */
        return w + 1;
    }
    buf[o] = '\0';
    return w;
}

void ctl_print_padded(FILE *out, const char *s, size_t width, int right)
{
    size_t w = ctl_utf8_width(s);
    if (right)
        for (size_t k = w; k < width; k++) fputc(' ', out);
    fputs(s, out);
    if (!right)
        for (size_t k = w; k < width; k++) fputc(' ', out);
}

ctl_table_t *ctl_table_new(void)
{
    return calloc(1, sizeof(ctl_table_t));
}

void ctl_table_destroy(ctl_table_t **self_p)
{
    if (!self_p || !*self_p) return;
    ctl_table_t *t = *self_p;
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) free(t->rows[r][c]);
        free(t->rows[r]);
    }
    free(t->rows);
    for (int c = 0; c < t->ncols; c++) {
        free(t->cols[c].header);
        free(t->cols[c].key);
    }
    free(t);
    *self_p = NULL;
}

int ctl_table_add_column(ctl_table_t *t, const char *header, const char *key, int flags,
                         int max_width)
{
    if (t->ncols >= CTL_TABLE_MAX_COLS || t->nrows > 0) return -1;
    s_col_t *c = &t->cols[t->ncols];
    c->header = strdup(header ? header : "");
    c->key = key ? strdup(key) : NULL;
    if (!c->header || (key && !c->key)) {
        free(c->header);
        free(c->key);
        return -1;
    }
    c->flags = key ? flags : (flags | CTL_COL_TEXT_ONLY);
    c->max_width = max_width > 0 ? max_width : 0;
    t->ncols++;
    return 0;
}

int ctl_table_ncols(const ctl_table_t *t)
{
    return t->ncols;
}

size_t ctl_table_nrows(const ctl_table_t *t)
{
    return t->nrows;
}

int ctl_table_add_row(ctl_table_t *t, const char *const *cells)
{
    char **row = NULL;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char ***rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows) return -1;
        t->rows = rows;
        t->cap = cap;
    }
    row = calloc((size_t)(t->ncols > 0 ? t->ncols : 1), sizeof *row);
    if (!row) return -1;
    for (int c = 0; c < t->ncols; c++) {
        if (!cells[c]) continue;
        row[c] = strdup(cells[c]);
        if (!row[c]) goto fail;
    }
    t->rows[t->nrows++] = row;
    return 0;
fail:
    for (int c = 0; c < t->ncols; c++) free(row[c]);
    free(row);
    return -1;
}

/* Bytes needed to display any cell of column c (cut or not). */
static size_t s_cell_buf(const char *s)
{
    return (s ? strlen(s) : 0) + 8;
}

void ctl_table_print_text(const ctl_table_t *t, FILE *out)
{
    size_t width[CTL_TABLE_MAX_COLS] = {0};
    for (int c = 0; c < t->ncols; c++) {
        if (t->cols[c].flags & CTL_COL_JSON_ONLY) continue;
        width[c] = ctl_utf8_width(t->cols[c].header);
        for (size_t r = 0; r < t->nrows; r++) {
            const char *s = t->rows[r][c] ? t->rows[r][c] : "";
            size_t w = ctl_utf8_width(s);
            if (t->cols[c].max_width && w > (size_t)t->cols[c].max_width)
                w = (size_t)t->cols[c].max_width;
            if (w > width[c]) width[c] = w;
        }
    }
    for (long r = -1; r < (long)t->nrows; r++) {
        /* Padding is held back until something follows it: no trailing spaces. */
        size_t pending = 0;
        int first = 1;
        for (int c = 0; c < t->ncols; c++) {
            if (t->cols[c].flags & CTL_COL_JSON_ONLY) continue;
            const char *s = r < 0 ? t->cols[c].header : t->rows[r][c] ? t->rows[r][c] : "";
            size_t blen = s_cell_buf(s), w;
            char small[256];
            char *buf = blen <= sizeof small ? small : malloc(blen);
            if (!first) pending += 2;
            first = 0;
            if (buf) {
                w = ctl_utf8_fit(s, (size_t)t->cols[c].max_width, buf, blen);
            } else { /* out of memory: print it raw rather than nothing */
                w = width[c];
            }
            if (t->cols[c].flags & CTL_COL_NUM) pending += width[c] > w ? width[c] - w : 0;
            if (*(buf ? buf : s)) {
                for (; pending > 0; pending--) fputc(' ', out);
                fputs(buf ? buf : s, out);
            }
            if (!(t->cols[c].flags & CTL_COL_NUM)) pending += width[c] > w ? width[c] - w : 0;
            if (buf && buf != small) free(buf);
        }
        fputc('\n', out);
    }
}

static json_t *s_json_cell(const char *s, int flags)
{
    if (!s) return json_null();
    if (flags & CTL_COL_BOOL) {
        if (strcmp(s, "t") == 0 || strcmp(s, "true") == 0) return json_true();
        if (strcmp(s, "f") == 0 || strcmp(s, "false") == 0) return json_false();
    }
    if (flags & CTL_COL_NUM) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && end != s && *end == '\0') return json_integer(v);
        errno = 0;
        double d = strtod(s, &end);
        if (errno == 0 && end != s && *end == '\0') return json_real(d);
    }
    return json_string(s);
}

json_t *ctl_table_json(const ctl_table_t *t)
{
    json_t *arr = json_array();
    if (!arr) return NULL;
    for (size_t r = 0; r < t->nrows; r++) {
        json_t *obj = json_object();
        if (!obj || json_array_append_new(arr, obj) != 0) goto fail;
        for (int c = 0; c < t->ncols; c++) {
            if (t->cols[c].flags & CTL_COL_TEXT_ONLY) continue;
            json_t *v = s_json_cell(t->rows[r][c], t->cols[c].flags);
            if (!v || json_object_set_new(obj, t->cols[c].key, v) != 0) goto fail;
        }
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

int ctl_table_print(const ctl_table_t *t, FILE *out, int json)
{
    if (!json) {
        ctl_table_print_text(t, out);
        return 0;
    }
    json_t *arr = ctl_table_json(t);
    if (!arr) return -1;
    int rc = json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(arr);
    return rc == 0 ? 0 : -1;
}
