#!/usr/bin/env bash
# LinkedIn images and replies end to end (real broker, publisher, PostgreSQL,
# sandbox over HTTP). An image goes through the Images API (initializeUpload,
# PUT of the bytes to the upload URL, the post names urn:li:image:..); a reply
# is a comment on the post.
#  (a) an image from a URL is published: the ledger entry carries its URN,
#      and the post reads back with it;
#  (b) an image from a local file;
#  (c) two images: failed at once (LinkedIn takes one here), nothing posted;
#  (d) a WebP image, which LinkedIn's upload refuses: failed permanent;
#  (e) an upload that did not complete (the PUT answered 201 but nothing was
#      stored): LinkedIn's 422 fails the post;
#  (f) the post with an image is accepted but never answered: the next
#      attempt finds it by reading back, not published twice;
#  (g) replies through the real adapter (adapter_call): a comment on (a)'s
#      post; a comment whose answer is lost (indeterminate), then the
#      reconciling attempt finds it among the post's comments: one comment;
#      a comment on a post that does not exist: permanent.
T_NAME=e2e_linkedin_media
source "$(dirname "$0")/../harness/lib.sh"
CALL=$BUILD/tests/adapter_call

t_db
t_sandbox
t_broker --backoff-ms 300 --task-timeout-ms 8000
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null
for h in 2001 2002 2003 2004 2005 2006; do
    echo "tok-li-$h" > "$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"linkedin\",\"handle\":\"$h\",\"token\":\"tok-li-$h\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform linkedin --handle "$h" \
        --instance "$SANDBOX/linkedin" --token-file "$T_DIR/tok" >/dev/null
done
acc() { sql "select id from crieur.account where platform = 'linkedin' and handle = '$1'"; }
fault() {
    curl -fsS -X POST "$SANDBOX/_sandbox/faults" -H 'content-type: application/json' -d "$1" >/dev/null
}
sql "create function t_post(acc bigint, body text, media text[]) returns bigint language plpgsql as \$\$
     declare v bigint; begin v := crieur.schedule_post(acc, body, now());
     update crieur.post set media = t_post.media where id = v; return v; end \$\$"
IMG=$SANDBOX/_sandbox/media
curl -fsS "$IMG/local.png?bytes=1200" -o "$T_DIR/local.png"

# (e) 2005's upload "succeeds" without storing anything
fault '{"platform":"linkedin","account":"2005","method":"PUT","path":"/dms-uploads/","status":201}'
# (f) 2006's post is accepted and never answered, once
fault '{"platform":"linkedin","account":"2006","method":"POST","path":"/rest/posts","mode":"timeout_after_accept","count":1}'

pa=$(sql "select t_post($(acc 2001), 'Spring collection (new)', array['$IMG/spring.jpg?bytes=4000'])")
pb=$(sql "select t_post($(acc 2002), 'From the studio', array['$T_DIR/local.png'])")
pc=$(sql "select t_post($(acc 2003), 'Two pictures', array['$IMG/a.jpg', '$IMG/b.jpg'])")
pd=$(sql "select t_post($(acc 2004), 'A WebP picture', array['$IMG/pic.webp'])")
pe=$(sql "select t_post($(acc 2005), 'Upload lost', array['$IMG/lost.png'])")
pf=$(sql "select t_post($(acc 2006), 'Autumn sale <today only>', array['$IMG/autumn.gif'])")

ALL="$pa,$pb,$pc,$pd,$pe,$pf"
wait_for "all posts to end" 60 bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*)
    from crieur.post where id in ($ALL) and status in ('published', 'failed', 'unconfirmed')\")\" = 6 ]" || true
curl -fsS "$SANDBOX/_sandbox/ledger?platform=linkedin" > "$T_DIR/ledger.json"
ledger() { jq -r --arg a "$1" "[.entries[] | select(.account == \$a)] | $2" "$T_DIR/ledger.json"; }
status() { sql "select p.status || ' ' || coalesce((select error_code from crieur.attempt a where a.ref_id = p.id
                order by a.attempt desc limit 1), '') from crieur.post p where p.id = $1"; }
last_error() { sql "select last_error from crieur.post where id = $1"; }

# (a), (b)
eq "(a) image from a URL: published" "published " "$(status "$pa")"
eq "(a) one post carrying one image" "1 1" "$(ledger 2001 'length') $(ledger 2001 '.[0].media | length')"
IMG_A=$(ledger 2001 '.[0].media[0]')
check "(a) an image URN" grep -Eq '^urn:li:image:[0-9]+$' <<<"$IMG_A"
POST_A=$(sql "select platform_post_id from crieur.post where id = $pa")
eq "(a) the post has the ledger's URN" "$(ledger 2001 '.[0].id')" "$POST_A"
LI=(-H 'Authorization: Bearer tok-li-2001' -H 'LinkedIn-Version: 202608' -H 'X-Restli-Protocol-Version: 2.0.0')
eq "(a) it reads back with the image" "$IMG_A" \
    "$(curl -fsS "${LI[@]}" "$SANDBOX/linkedin/rest/posts/$(jq -rn --arg v "$POST_A" '$v|@uri')" | jq -r .content.media.id)"
eq "(a) the image is AVAILABLE" AVAILABLE \
    "$(curl -fsS "${LI[@]}" "$SANDBOX/linkedin/rest/images/$IMG_A" | jq -r .status)"
eq "(b) image from a file: published with it" "published  1 1" \
    "$(status "$pb") $(ledger 2002 'length') $(ledger 2002 '.[0].media | length')"
# (c), (d), (e)
for h in 2003 2004 2005; do eq "($h) nothing on the platform" 0 "$(ledger "$h" 'length')"; done
eq "(c) two images: failed, too_many_media" "failed too_many_media" "$(status "$pc")"
check "(c) says so" grep -q "LinkedIn posts take at most 1 here" <<<"$(last_error "$pc")"
eq "(d) a WebP image: failed with LinkedIn's code" "failed INVALID_IMAGE" "$(status "$pd")"
check "(d) with LinkedIn's words" grep -q "uploading the image: LinkedIn refused it: Unsupported image format" <<<"$(last_error "$pd")"
eq "(e) an incomplete upload: failed, LinkedIn's 422" "failed INVALID_VALUE" "$(status "$pe")"
check "(e) with LinkedIn's words" grep -q "upload has not completed" <<<"$(last_error "$pe")"
# (f)
eq "(f) published after reading back" published "$(sql "select status from crieur.post where id = $pf")"
eq "(f) exactly one post, with its image" "1 1" "$(ledger 2006 'length') $(ledger 2006 '.[0].media | length')"
eq "(f) attempts: indeterminate, then ok found by reading back" \
    "indeterminate,ok found on the platform by reading back; not published again" \
    "$(sql "select string_agg(outcome, ',' order by attempt) || ' ' || max(detail) filter (where outcome = 'ok')
            from crieur.attempt where ref_id = $pf")"

# (g) replies (comments) through the real adapter over HTTP
call() { "$CALL" --platform linkedin --api-base "$SANDBOX/linkedin" --token tok-li-2001 --handle 2001 "$@"; }
R1=$(call --body "Thanks! Blue is back on Monday (10am)" --reply-to "$POST_A")
eq "(g) comment: ok" ok "$(jq -r .outcome <<<"$R1")"
C1=$(jq -r .platform_post_id <<<"$R1")
check "(g) the result is the comment's URN on the post" grep -Eq "^urn:li:comment:\\($POST_A,[0-9]+\\)$" <<<"$C1"
check "(g) its URL points at the comment" grep -q "^https://www.linkedin.com/feed/update/$POST_A/?commentUrn=urn%3Ali%3Acomment" <<<"$(jq -r .url <<<"$R1")"
COMMENTS="$SANDBOX/linkedin/rest/socialActions/$(jq -rn --arg v "$POST_A" '$v|@uri')/comments"
eq "(g) on LinkedIn as the organization's comment, text as sent" "urn:li:organization:2001 Thanks! Blue is back on Monday (10am)" \
    "$(curl -fsS "${LI[@]}" "$COMMENTS" | jq -r --arg c "$C1" '.elements[] | select(.commentUrn == $c) | "\(.actor) \(.message.text)"')"
fault '{"platform":"linkedin","account":"2001","method":"POST","path":"/comments","mode":"timeout_after_accept","count":1}'
R2=$(call --body "A second answer" --reply-to "$POST_A" --timeout-ms 1500)
eq "(g) a comment whose answer is lost: indeterminate" indeterminate "$(jq -r .outcome <<<"$R2")"
R3=$(call --body "A second answer" --reply-to "$POST_A" --reconcile)
eq "(g) the reconciling attempt finds it: ok, reconciled, one read" "ok 1 1" \
    "$(jq -r '"\(.outcome) \(.reconciled) \(.requests)"' <<<"$R3")"
eq "(g) exactly one such comment on the post" 1 \
    "$(curl -fsS "${LI[@]}" "$COMMENTS?count=100" | jq '[.elements[] | select(.message.text == "A second answer")] | length')"
eq "(g) and it is the one the result names" "$(curl -fsS "${LI[@]}" "$COMMENTS?count=100" | jq -r '.elements[] | select(.message.text == "A second answer") | .commentUrn')" \
    "$(jq -r .platform_post_id <<<"$R3")"
R4=$(call --body "Nobody there" --reply-to urn:li:share:1)
eq "(g) a comment on a post that does not exist: permanent 404" "permanent 404" \
    "$(jq -r '"\(.outcome) \(.http_status)"' <<<"$R4")"
curl -fsS "$SANDBOX/_sandbox/ledger?platform=linkedin" > "$T_DIR/ledger.json"
eq "(g) the ledger: the post and its two comments" 3 "$(ledger 2001 'length')"
t_done
