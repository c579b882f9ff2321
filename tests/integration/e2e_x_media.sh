#!/usr/bin/env bash
# X images and replies end to end (real broker, publisher, PostgreSQL,
# sandbox over HTTP): each image is uploaded (POST /2/media/upload) and the
# tweet names the media ids; an upload is not a post.
#  (a) an image from a URL (the sandbox serves it) is published: the ledger
#      entry carries the uploaded media id;
#  (b) two local files (a path and a file:// URL) give two media ids;
#  (c) four images, X's maximum, from URLs and files;
#  (d) five images: failed at once (permanent), nothing uploaded or posted;
#  (e) a file that is not an image: failed permanent, nothing posted;
#  (f) an image URL that answers 404: failed permanent with the host;
#  (g) an image X refuses (larger than the sandbox's limit here): permanent
#      with X's words;
#  (h) a media id that expired before the tweet (the upload's answer came
#      late): X's "Your media IDs are invalid." fails the post;
#  (i) the tweet with an image is accepted but never answered: the next
#      attempt finds it by reading back (X shows it with its media link) and
#      does not publish it again;
#  (j) replies through the real adapter (adapter_call): a reply to (a)'s
#      tweet, and a reply with an image, are on X as replies to it; a reply to
#      a tweet that does not exist is refused.
T_NAME=e2e_x_media
source "$(dirname "$0")/../harness/lib.sh"
CALL=$BUILD/tests/adapter_call

t_db
t_sandbox --x-media-max-bytes 8000 --x-media-ttl-s 2
t_broker --backoff-ms 300 --task-timeout-ms 8000
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null
for h in xa xb xc xd xe xf xg xh xi; do
    echo "tok-$h" > "$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"x\",\"handle\":\"$h\",\"token\":\"tok-$h\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform x --handle "$h" \
        --instance "$SANDBOX/x" --token-file "$T_DIR/tok" >/dev/null
done
acc() { sql "select id from crieur.account where handle = '$1'"; }
fault() {
    curl -fsS -X POST "$SANDBOX/_sandbox/faults" -H 'content-type: application/json' -d "$1" >/dev/null
}
# a post and its media in one transaction (the broker never sees it without them)
sql "create function t_post(acc bigint, body text, media text[]) returns bigint language plpgsql as \$\$
     declare v bigint; begin v := crieur.schedule_post(acc, body, now());
     update crieur.post set media = t_post.media where id = v; return v; end \$\$"
IMG=$SANDBOX/_sandbox/media
curl -fsS "$IMG/one.png?bytes=900" -o "$T_DIR/one.png"
curl -fsS "$IMG/two.gif?bytes=700" -o "$T_DIR/two.gif"
printf 'this is not an image, only text' > "$T_DIR/notes.jpg"

# (h) xh's upload answers 3 s late: its media id (2 s) has expired when the tweet comes
fault '{"platform":"x","account":"xh","method":"POST","path":"/2/media/upload","mode":"latency","latency_ms":3000}'
# (i) xi's tweet is accepted and never answered, once
fault '{"platform":"x","account":"xi","method":"POST","path":"/2/tweets","mode":"timeout_after_accept","count":1}'

pa=$(sql "select t_post($(acc xa), 'Spring collection', array['$IMG/spring.jpg?bytes=3000'])")
pb=$(sql "select t_post($(acc xb), 'Two pictures', array['$T_DIR/one.png', 'file://$T_DIR/two.gif'])")
pc=$(sql "select t_post($(acc xc), 'Four pictures', array['$IMG/a.jpg', '$T_DIR/one.png', '$IMG/c.webp', '$T_DIR/two.gif'])")
pd=$(sql "select t_post($(acc xd), 'Five pictures', array['$IMG/1.jpg', '$IMG/2.jpg', '$IMG/3.jpg', '$IMG/4.jpg', '$IMG/5.jpg'])")
pe=$(sql "select t_post($(acc xe), 'Not a picture', array['$T_DIR/notes.jpg'])")
pf=$(sql "select t_post($(acc xf), 'Missing picture', array['$IMG/gone.jpg?status=404'])")
pg=$(sql "select t_post($(acc xg), 'Huge picture', array['$IMG/huge.jpg?bytes=9000'])")
ph=$(sql "select t_post($(acc xh), 'Late upload', array['$IMG/late.jpg'])")
pi=$(sql "select t_post($(acc xi), 'Sale pictures (20% off) & more', array['$IMG/sale.png'])")

ALL="$pa,$pb,$pc,$pd,$pe,$pf,$pg,$ph,$pi"
wait_for "all posts to end" 60 bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*)
    from crieur.post where id in ($ALL) and status in ('published', 'failed', 'unconfirmed')\")\" = 9 ]" || true
curl -fsS "$SANDBOX/_sandbox/ledger?platform=x" > "$T_DIR/ledger.json"
ledger() { jq -r --arg a "$1" "[.entries[] | select(.account == \$a)] | $2" "$T_DIR/ledger.json"; }
status() { sql "select p.status || ' ' || coalesce((select error_code from crieur.attempt a where a.ref_id = p.id order by a.attempt desc limit 1), '') from crieur.post p where p.id = $1"; }
last_error() { sql "select last_error from crieur.post where id = $1"; }

# (a)
eq "(a) image from a URL: published" "published " "$(status "$pa")"
eq "(a) one tweet with one uploaded media id" "1 1" "$(ledger xa 'length') $(ledger xa '.[0].media | length')"
check "(a) the media id is X's (digits)" grep -Eq '^[0-9]+$' <<<"$(ledger xa '.[0].media[0]')"
eq "(a) the post has the tweet's id and URL" "$(ledger xa '.[0].id') https://x.com/xa/status/$(ledger xa '.[0].id')" \
    "$(sql "select platform_post_id || ' ' || url from crieur.post where id = $pa")"
# (b), (c)
eq "(b) two local files: published with two media ids" "published  1 2" \
    "$(status "$pb") $(ledger xb 'length') $(ledger xb '.[0].media | length')"
eq "(c) four images from URLs and files: published with four" "published  1 4" \
    "$(status "$pc") $(ledger xc 'length') $(ledger xc '.[0].media | length')"
eq "(c) four distinct media ids" 4 "$(ledger xc '.[0].media | unique | length')"
# (d), (e), (f), (g), (h): failed at once, nothing on X
for k in d e f g h; do
    eq "($k) nothing on the platform" 0 "$(ledger "x$k" 'length')"
done
eq "(d) five images: failed, too_many_media" "failed too_many_media" "$(status "$pd")"
check "(d) says X takes at most 4" grep -q "X takes at most 4 per tweet" <<<"$(last_error "$pd")"
eq "(d) one attempt, permanent" "1 permanent" \
    "$(sql "select count(*) || ' ' || min(outcome) from crieur.attempt where ref_id = $pd")"
eq "(e) not an image: failed, media_not_image" "failed media_not_image" "$(status "$pe")"
check "(e) names the file" grep -q "notes.jpg is not a JPEG, PNG, GIF or WebP image" <<<"$(last_error "$pe")"
eq "(f) image URL answering 404: failed, media_unavailable" "failed media_unavailable" "$(status "$pf")"
check "(f) names the host and the status" grep -q "127.0.0.1:[0-9]* answered HTTP 404" <<<"$(last_error "$pf")"
eq "(g) an image X refuses: failed with X's problem type" "failed invalid-request" "$(status "$pg")"
check "(g) with X's words" grep -q "X refused the image: .*The media is too large" <<<"$(last_error "$pg")"
eq "(h) an expired media id: failed" "failed invalid-request" "$(status "$ph")"
check "(h) with X's words" grep -q "Your media IDs are invalid." <<<"$(last_error "$ph")"
# (i)
eq "(i) published after reading back" published "$(sql "select status from crieur.post where id = $pi")"
eq "(i) exactly one tweet, with its image" "1 1" "$(ledger xi 'length') $(ledger xi '.[0].media | length')"
eq "(i) attempts: indeterminate, then ok found by reading back" \
    "indeterminate,ok found on the platform by reading back; not published again" \
    "$(sql "select string_agg(outcome, ',' order by attempt) || ' ' || max(detail) filter (where outcome = 'ok')
            from crieur.attempt where ref_id = $pi")"
eq "(i) the post has the ledger's id" "$(ledger xi '.[0].id')" \
    "$(sql "select platform_post_id from crieur.post where id = $pi")"

# (j) replies through the real adapter over HTTP
PARENT=$(ledger xa '.[0].id')
call() { "$CALL" --platform x --api-base "$SANDBOX/x" --token tok-xa --handle xa "$@"; }
R1=$(call --body "Thanks for asking: yes, in blue too" --reply-to "$PARENT")
eq "(j) reply: ok" ok "$(jq -r .outcome <<<"$R1")"
RID=$(jq -r .platform_post_id <<<"$R1")
eq "(j) reply URL" "https://x.com/xa/status/$RID" "$(jq -r .url <<<"$R1")"
curl -fsS "$SANDBOX/x/2/tweets/$RID?tweet.fields=referenced_tweets,conversation_id" -H 'Authorization: Bearer tok-xa' > "$T_DIR/r1.json"
eq "(j) on X as a reply to the tweet of (a)" "replied_to $PARENT $PARENT" \
    "$(jq -r '"\(.data.referenced_tweets[0].type) \(.data.referenced_tweets[0].id) \(.data.conversation_id)"' "$T_DIR/r1.json")"
R2=$(call --body "Here it is" --reply-to "$PARENT" --media "$IMG/blue.jpg")
eq "(j) reply with an image: ok, three requests (download, upload, tweet)" "ok 3" \
    "$(jq -r '"\(.outcome) \(.requests)"' <<<"$R2")"
curl -fsS "$SANDBOX/_sandbox/ledger?platform=x" > "$T_DIR/ledger.json"
eq "(j) the reply with an image is on the ledger with its media" 1 \
    "$(jq -r --arg id "$(jq -r .platform_post_id <<<"$R2")" '.entries[] | select(.id == $id) | .media | length' "$T_DIR/ledger.json")"
R3=$(call --body "Into the void" --reply-to 1)
eq "(j) a reply to a tweet that does not exist: permanent, X's words" \
    "permanent 403 You attempted to reply to a Tweet that is deleted or not visible to you." \
    "$(jq -r '"\(.outcome) \(.http_status) \(.error)"' <<<"$R3")"
eq "no job left in the queue" 0 "$(sql "select count(*) from crieur.job where ref_id in ($ALL)")"
t_done
