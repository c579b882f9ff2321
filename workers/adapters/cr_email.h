/* cr_email: alerts by e-mail over SMTP (platform "email").
 *
 * The task's Account is the alert channel: handle = the recipient address,
 * api_base = the SMTP server (smtp://host[:port] with STARTTLS as the
 * setting email.tls says, or smtps://host[:port], TLS from the start),
 * token = the SMTP password (may be empty). The alert payload gives the
 * sender (mail_from) and the SMTP login (smtp_user; empty = no AUTH).
 *
 * One transfer through libcurl's SMTP: MAIL FROM, RCPT TO, DATA with an RFC
 * 5322 message: Date, From, To, Subject (RFC 2047 encoded-words when not
 * ASCII or long), Message-ID <crieur-alert-ALERT-JOB-ATTEMPT@sender domain>,
 * MIME-Version, Content-Type text/plain; charset=utf-8,
 * Content-Transfer-Encoding quoted-printable (valid whatever the server's
 * 8BITMIME support), Auto-Submitted; CRLF line endings. Every header value
 * is built from cleaned text (no CR, LF or other control characters) and
 * the addresses are checked, so no header can be injected.
 *
 * Classification, on the last SMTP reply code (the response's status): 2xx
 * -> OK; a refused login (535, 534, 530, or curl's login denied) ->
 * PERMANENT saying the channel's SMTP login is wrong; other 5xx ->
 * PERMANENT with the server's reply ("550 5.1.1 mailbox unavailable"); 4xx,
 * connection failures and timeouts -> TRANSIENT. Never INDETERMINATE: an
 * alert delivered twice is better than one lost.
 *
 * Settings (cr_settings): email.tls = try | all | none (default try):
 * STARTTLS on smtp:// URLs when offered / required / never. */
#ifndef CR_EMAIL_H
#define CR_EMAIL_H

#include "cr_adapter.h"

#define CR_EMAIL_MAX_TEXT_BYTES (64u * 1024u) /* alert text in one message */
#define CR_EMAIL_MAX_SUBJECT_BYTES 200

extern const cr_adapter_t cr_email_adapter;

/* 1 if a is an address usable in MAIL FROM / RCPT TO and in a header:
 * local@domain, ASCII, dot-atom local part, letters/digits/hyphens/dots
 * domain (or a [literal]), at most 254 bytes. */
int cr_email_address_ok(const char *a);

/* The whole message (headers, blank line, quoted-printable body) for an
 * alert task at now_ms; malloc'd with *len; NULL out of memory. The task
 * must have passed cr_email_request's checks (addresses valid). */
char *cr_email_message(const Crieur__Task *task, int64_t now_ms, size_t *len);

/* Fills req with the SMTP transfer of an alert task. 0, or -1 with result
 * filled (PERMANENT for a channel that can never work). */
int cr_email_request(const Crieur__Task *task, int64_t now_ms, cr_http_req_t *req,
                     cr_result_t *result);

/* Classifies the end of the SMTP transfer. */
void cr_email_result(const Crieur__Task *task, const cr_http_resp_t *resp, cr_result_t *result);

/* RFC 2047: the Subject header value for text (valid UTF-8, no controls):
 * as is when printable ASCII and short, else "=?UTF-8?B?...?=" words of at
 * most 75 characters, folded with CRLF SP, never splitting a character.
 * malloc'd; NULL out of memory. */
char *cr_email_subject(const char *text);

#endif
