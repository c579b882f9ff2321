/* cr_webhook: alerts to a Slack-compatible incoming webhook (platform
 * "webhook"; see platform-apis.md, "Slack-compatible incoming webhook").
 *
 * The task's Account is the alert channel: token = the webhook URL (a
 * secret: it never appears in logs or in a result's error text), handle =
 * the channel's name. One request: POST <url> with JSON
 *   {"text": fallback, "blocks": [header, section, context]}
 * (mrkdwn text escaped as Slack requires: & < > become &amp; &lt; &gt;;
 * header plain_text at most 150 characters, section text at most 3000).
 *
 * Classification: 200 with body "ok" -> OK; 429 -> RATE_LIMITED at
 * Retry-After (seconds or HTTP date; 30 s without one); 400
 * invalid_payload/no_text, 403 action_prohibited, 404 channel_not_found /
 * no_service, 410 channel_is_archived and any other 4xx -> PERMANENT with the
 * platform's string as error_code; 408, 5xx, timeouts, connection errors,
 * too large answers -> TRANSIENT. Never INDETERMINATE: an alert delivered
 * twice is better than one lost. A 2xx other than "ok" and redirects are
 * PERMANENT (the URL is not an incoming webhook). */
#ifndef CR_WEBHOOK_H
#define CR_WEBHOOK_H

#include "cr_adapter.h"

#define CR_WEBHOOK_MAX_URL 2048
#define CR_WEBHOOK_HEADER_CHARS 150   /* Slack: header block plain_text */
#define CR_WEBHOOK_SECTION_CHARS 3000 /* Slack: section block text */
#define CR_WEBHOOK_RETRY_DEFAULT_MS 30000LL
#define CR_WEBHOOK_RETRY_MAX_MS 3600000LL

extern const cr_adapter_t cr_webhook_adapter;

/* Fills req with the POST of an alert task. 0, or -1 with result filled
 * (PERMANENT for a task or URL that can never work). */
int cr_webhook_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result);

/* Classifies the answer. task gives the secret URL to keep out of the error
 * text; now_ms is the wall clock for retry_at_ms. */
void cr_webhook_result(const Crieur__Task *task, const cr_http_resp_t *resp, int64_t now_ms,
                       cr_result_t *result);

/* Appends s[0..) escaped for Slack mrkdwn (& < > as entities), cut so that
 * the escaped text has at most max_chars code points (entities never cut),
 * followed by the cut mark when cut. s must be valid UTF-8. NULL out of
 * memory. */
char *cr_webhook_escape(const char *s, size_t max_chars);

#endif
