#include "sb_text.h"

#include <string.h>

size_t
sb_url_at (const char *text, size_t len, size_t i)
{
    size_t scheme;
    if (len - i > 8 && strncmp (text + i, "https://", 8) == 0)
        scheme = 8;
    else if (len - i > 7 && strncmp (text + i, "http://", 7) == 0)
        scheme = 7;
    else
        return 0;
    if (i > 0) {
        char prev = text[i - 1];
        if ((prev >= 'a' && prev <= 'z') || (prev >= 'A' && prev <= 'Z')
            || (prev >= '0' && prev <= '9') || prev == '@' || prev == '/' || prev == '.')
            return 0;
    }
    size_t end = i + scheme;
    while (end < len && text[end] != ' ' && text[end] != '\n' && text[end] != '\t'
           && text[end] != '\r' && text[end] != '<' && text[end] != '>' && text[end] != '"')
        end++;
    while (end > i + scheme && strchr (".,:;!?'\")", text[end - 1]))
        end--;
    return end > i + scheme ? end - i : 0;
}

size_t
sb_utf8_next (const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *) s;
    size_t n = u[0] < 0x80 ? 1 : u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC0 ? 2 : 1;
    if (n > len)
        n = 1;
    if (n == 1) {
        *cp = u[0];
        return 1;
    }
    uint32_t v = u[0] & (0x7Fu >> n);
    for (size_t k = 1; k < n; k++)
        v = (v << 6) | (u[k] & 0x3Fu);
    *cp = v;
    return n;
}

bool
sb_blank (const char *text)
{
    for (const char *p = text; p && *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\f' && *p != '\v')
            return false;
    return true;
}
