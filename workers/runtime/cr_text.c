#include "cr_text.h"

#include <stdlib.h>
#include <string.h>

char *cr_text_compose(const char *body, const char *link, int with_link, size_t *len)
{
    if (!body) body = "";
    if (!link) link = "";
    size_t bl = strlen(body), ll = strlen(link);
    int add = with_link && ll > 0 && strstr(body, link) == NULL;
    size_t sep = add && bl > 0 ? 2 : 0;
    size_t n = bl + sep + (add ? ll : 0);
    char *text = malloc(n + 1);
    if (!text) return NULL;
    memcpy(text, body, bl);
    if (sep) memcpy(text + bl, "\n\n", 2);
    if (add) memcpy(text + bl + sep, link, ll);
    text[n] = '\0';
    if (len) *len = n;
    return text;
}

char *cr_text_post(const Crieur__Task *task, size_t *len)
{
    const Crieur__PublishPayload *pub =
        task && task->payload_case == CRIEUR__TASK__PAYLOAD_PUBLISH ? task->publish : NULL;
    if (!pub) return NULL;
    return cr_text_compose(pub->body, pub->link, 1, len);
}

size_t cr_text_space_at(const unsigned char *s, size_t n)
{
    if (s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0d)) return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2; /* NEL, NBSP */
    if (n < 3) return 0;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3; /* U+1680 */
    if (s[0] == 0xe2 && s[1] == 0x80 &&
        (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3; /* U+2000..200A, 2028, 2029, 202F */
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

char *cr_text_fingerprint(const char *text, size_t len, cr_text_link_fn is_link)
{
    if (!text) len = 0;
    char *out = malloc(len + 1);
    if (!out) return NULL;
    const unsigned char *u = (const unsigned char *)text;
    size_t o = 0, i = 0;
    int space = 0; /* a separator is due before the next kept word */
    while (i < len) {
        size_t ws = cr_text_space_at(u + i, len - i);
        if (ws) {
            i += ws;
            space = o > 0;
            continue;
        }
        size_t j = i;
        while (j < len && !cr_text_space_at(u + j, len - j)) j++;
        if (!is_link(text + i, j - i)) {
            if (space) out[o++] = ' ';
            memcpy(out + o, text + i, j - i);
            o += j - i;
            space = 0;
        }
        i = j;
    }
    out[o] = '\0';
    return out;
}

int cr_text_token_ok(const char *s, size_t max)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        if (*p <= 0x20 || *p >= 0x7f) return 0;
    return n > 0 && n <= max;
}
