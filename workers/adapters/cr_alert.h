/* cr_alert: what the alert adapters (cr_webhook, cr_email) share.
 *
 * Vocabulary: an *alert* is a message for humans (a post failed, a post's
 * outcome is unknown, a token could not be refreshed), one row of
 * crieur.alert; a *channel* is where it goes (a Slack-compatible webhook, an
 * e-mail address), described by the task's Account. One KIND_ALERT task
 * delivers one alert to one channel. An alert may be delivered twice rather
 * than never: the alert adapters never answer INDETERMINATE.
 *
 * Alert text comes from the database and, through it, from platforms'
 * error messages: it is cleaned before it goes anywhere (valid UTF-8, no
 * control characters but newlines, cut at a character boundary). */
#ifndef CR_ALERT_H
#define CR_ALERT_H

#include "cr_adapter.h"

#include <stddef.h>

#define CR_ALERT_CUT_MARK "\xE2\x80\xA6" /* U+2026, appended where a text was cut */

/* A cleaned copy of s: invalid UTF-8 bytes become U+FFFD; CR LF and lone CR
 * become LF when multiline, else every line break and tab becomes a space;
 * other control characters (C0, DEL, C1) become spaces; leading and trailing
 * whitespace dropped. At most max_bytes bytes and (max_chars > 0) max_chars
 * code points; a longer text is cut at a character boundary and ends with
 * CR_ALERT_CUT_MARK. NULL s is "". *len (if len) gets the length. NULL only
 * out of memory. */
char *cr_alert_clean(const char *s, size_t max_bytes, size_t max_chars, int multiline,
                     size_t *len);

/* The alert's severity as one of "info", "warning", "critical" (case
 * ignored; "error" counts as critical); anything else is "warning". */
const char *cr_alert_severity(const Crieur__AlertPayload *a);

/* An alert task has an account and an alert payload; else fills r with
 * PERMANENT bad_task and returns -1. */
int cr_alert_check(const Crieur__Task *task, cr_result_t *r);

/* The channel's name for messages (Account.handle cleaned, at most 64
 * bytes, "?" when empty) in buf. */
void cr_alert_channel_name(const Crieur__Task *task, char *buf, size_t len);

#endif
