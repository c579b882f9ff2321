#!/usr/bin/env bash
# Facebook, Instagram and Threads posts with images, end to end (real broker,
# publisher, PostgreSQL, sandbox). A post's media is set by SQL before its
# time. The sandbox serves the images (GET /_sandbox/media/NAME.EXT) and
# records each post's image on its ledger entry, which is the judge:
#  (a) Facebook: a photo by URL (POST /photos url=) and one from a local file
#      (uploaded as multipart "source"): published, the post id is post_id,
#      the ledger shows the URL and the uploaded photo's id;
#  (b) Instagram: an image by URL; its container is processed in 300 ms and
#      polled with CR_STEP_WAIT (instagram.poll_interval_ms = 100);
#  (c) Threads: an IMAGE container, processed in 300 ms, polled the same way
#      (threads.poll_interval_ms = 100) before threads_publish;
#  (d) media errors, each failed at once with a message saying what to do and
#      nothing on the platform: a local file for Instagram (public URLs only),
#      two images on Facebook (one photo per post here), a file that is not
#      an image (Facebook upload), an image the platform cannot process
#      (Threads: a PNG, container ERROR), a file that does not exist;
#  (e) text posts still go the text way (Facebook /feed, Threads TEXT).
#  (f) replies (crieur.schedule_reply) to the posts of (a)-(c): a Facebook
#      comment, an Instagram comment on the media, a Threads reply
#      (reply_to_id), each published with the platform id of the reply and
#      seen under its parent on the platform; a reply to an id the platform
#      does not know fails at once with Graph's code 100, nothing published.
T_NAME=e2e_graph_media
source "$(dirname "$0")/../harness/lib.sh"

t_db
t_sandbox --latency-ms 10 --instagram-container-delay-ms 300 --threads-container-delay-ms 300
t_broker --backoff-ms 300 --task-timeout-ms 5000
CRIEUR_INSTAGRAM_POLL_INTERVAL_MS=100 CRIEUR_THREADS_POLL_INTERVAL_MS=100 t_publisher pub1
"$BIN_CTL" client add acme >/dev/null

add_account() { # PLATFORM HANDLE
    echo "tok-$2" > "$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"$1\",\"handle\":\"$2\",\"token\":\"tok-$2\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform "$1" --handle "$2" \
        --instance "$SANDBOX/$1" --token-file "$T_DIR/tok" >/dev/null
}
acc() { sql "select id from crieur.account where handle = '$1'"; }
post() { # HANDLE BODY [LINK] [MEDIA...]: the post's id, due in 2 s, its media set before
    local h=$1 body=$2 link=NULL id m arr=""
    [ -n "${3:-}" ] && link="\$l\$$3\$l\$"
    shift 3 || shift $#
    id=$(sql "select crieur.schedule_post($(acc "$h"), \$b\$$body\$b\$, now() + interval '2 seconds',
              NULL, 'editorial', $link)")
    for m in "$@"; do arr+="${arr:+,}\$m\$$m\$m\$"; done
    [ -n "$arr" ] && sql "update crieur.post set media = ARRAY[$arr] where id = $id" >/dev/null
    echo "$id"
}

add_account facebook 1101
add_account instagram 2201
add_account threads 3301

IMG="$SANDBOX/_sandbox/media"
printf '\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00padding-for-a-jpeg\xff\xd9' \
    > "$T_DIR/local.jpg"
printf 'this is not an image' > "$T_DIR/notimage.jpg"

FB_URL=$(post 1101 "Photo by URL on facebook" "https://shop.example/a" "$IMG/fb.jpg")
FB_FILE=$(post 1101 "Photo uploaded on facebook" "" "$T_DIR/local.jpg")
FB_TEXT=$(post 1101 "Text only on facebook" "https://shop.example/t")
IG_URL=$(post 2201 "Picture on instagram" "" "$IMG/ig.jpg")
TH_URL=$(post 3301 "Picture on threads" "" "$IMG/th.jpg")
TH_TEXT=$(post 3301 "Text only on threads" "")
# (d)
IG_FILE=$(post 2201 "A local file for instagram" "" "$T_DIR/local.jpg")
FB_TWO=$(post 1101 "Two photos on facebook" "" "$IMG/a.jpg" "$IMG/b.jpg")
FB_NOTIMG=$(post 1101 "Not an image on facebook" "" "$T_DIR/notimage.jpg")
FB_MISSING=$(post 1101 "A missing file on facebook" "" "$T_DIR/missing.jpg")
TH_PNG=$(post 3301 "A PNG on threads" "" "$IMG/th.png")
ALL="$FB_URL,$FB_FILE,$FB_TEXT,$IG_URL,$TH_URL,$TH_TEXT,$IG_FILE,$FB_TWO,$FB_NOTIMG,$FB_MISSING,$TH_PNG"
eq "11 posts, 9 with media" "11 9" \
    "$(sql "select count(*) || ' ' || count(*) filter (where cardinality(media) > 0) from crieur.post where id in ($ALL)")"

wait_for "every post to end" 45 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post
        where id in ($ALL) and status = 'scheduled'\")\" = 0 ]" || true

LEDGER=$(curl -fsS "$SANDBOX/_sandbox/ledger")
entry() { # PLATFORM TEXT: "id|media,..." of the ledger entries with that text
    jq -r --arg p "$1" --arg t "$2" \
        '[.entries[] | select(.platform == $p and .text == $t) | "\(.id)|\(.media | join(","))"] | join(" ")' \
        <<<"$LEDGER"
}
st() { sql "select status || ' ' || coalesce(platform_post_id, '-') from crieur.post where id = $1"; }
pid() { sql "select platform_post_id from crieur.post where id = $1"; }

# (a) Facebook photos
eq "facebook (a) photo by URL: published with its post id (page_post)" "published" \
    "$(sql "select status from crieur.post where id = $FB_URL")"
check "facebook (a) ... post_id is the page's post" grep -Eq '^1101_[0-9]+$' <<<"$(pid "$FB_URL")"
eq "facebook (a) ledger: once, caption with the link, the image URL" \
    "$(pid "$FB_URL")|$IMG/fb.jpg" "$(entry facebook "$(printf 'Photo by URL on facebook\n\nhttps://shop.example/a')")"
eq "facebook (a) uploaded file: published" published "$(sql "select status from crieur.post where id = $FB_FILE")"
check "facebook (a) ... the ledger shows an uploaded photo (its id, no URL)" \
    grep -Eq "^$(pid "$FB_FILE")\|[0-9]+\$" <<<"$(entry facebook "Photo uploaded on facebook")"
eq "facebook (a) URL of the post" "https://www.facebook.com/$(pid "$FB_FILE")" \
    "$(sql "select url from crieur.post where id = $FB_FILE")"

# (b) Instagram
eq "instagram (b) image by URL: published" published "$(sql "select status from crieur.post where id = $IG_URL")"
eq "instagram (b) ledger: once, with the image" "$(pid "$IG_URL")|$IMG/ig.jpg" \
    "$(entry instagram "Picture on instagram")"
eq "instagram (b) one attempt (the container was polled, not retried)" "1 ok" \
    "$(sql "select count(*) || ' ' || min(outcome) from crieur.attempt where ref_id = $IG_URL")"
check "instagram (b) ... with its permalink" grep -q "^$SANDBOX/instagram/p/" \
    <<<"$(sql "select url from crieur.post where id = $IG_URL")"

# (c) Threads
eq "threads (c) IMAGE: published in one attempt" "published 1" \
    "$(sql "select p.status || ' ' || count(a.*) from crieur.post p join crieur.attempt a on a.ref_id = p.id
            where p.id = $TH_URL group by p.status")"
eq "threads (c) ledger: once, with the image" "$(pid "$TH_URL")|$IMG/th.jpg" \
    "$(entry threads "Picture on threads")"

# (d) media errors: failed at once, one attempt, what to do, nothing published
declare -A WHY=(
    [$IG_FILE]="permanent media_not_url|Instagram takes images by public URL only"
    [$FB_TWO]="permanent too_many_media|Facebook takes 1 photo per post here"
    [$FB_NOTIMG]="permanent media_not_image|is not a JPEG, PNG, GIF or WebP image"
    [$FB_MISSING]="permanent media_unreadable|cannot read media file"
    [$TH_PNG]="permanent container_error|Only JPEG images are supported")
for id in $IG_FILE $FB_TWO $FB_NOTIMG $FB_MISSING $TH_PNG; do
    want=${WHY[$id]}
    eq "(d) post $id: failed after one attempt, ${want%%|*}" "failed 1 ${want%%|*}" \
        "$(sql "select p.status || ' ' || count(a.*) || ' ' || min(a.outcome) || ' ' || min(a.error_code)
                from crieur.post p join crieur.attempt a on a.ref_id = p.id where p.id = $id group by p.status")"
    check "(d) post $id: the error says so (${want#*|})" \
        grep -qF "${want#*|}" <<<"$(sql "select last_error from crieur.post where id = $id")"
done
eq "(d) nothing of them on the platforms" "0" \
    "$(jq '[.entries[] | select(.text | test("local file|Two photos|Not an image|missing file|PNG"))] | length' <<<"$LEDGER")"

# (e) the text path is unchanged
eq "facebook (e) text post: /feed, no media on the ledger" "published|$(pid "$FB_TEXT")|" \
    "$(sql "select status from crieur.post where id = $FB_TEXT")|$(entry facebook "Text only on facebook")"
eq "threads (e) text post: no media on the ledger" "published|$(pid "$TH_TEXT")|" \
    "$(sql "select status from crieur.post where id = $TH_TEXT")|$(entry threads "Text only on threads")"
eq "one ledger entry per published post" 6 "$(jq '.count' <<<"$LEDGER")"

# (f) replies
reply() { # HANDLE BODY IN_REPLY_TO
    sql "select crieur.schedule_reply($(acc "$1"), \$b\$$2\$b\$, now(), \$r\$$3\$r\$)"
}
FB_PARENT=$(pid "$FB_URL") IG_PARENT=$(pid "$IG_URL") TH_PARENT=$(pid "$TH_URL")
R_FB=$(reply 1101 "Thanks from facebook" "$FB_PARENT")
R_IG=$(reply 2201 "Thanks from instagram" "$IG_PARENT")
R_TH=$(reply 3301 "Thanks from threads" "$TH_PARENT")
X_FB=$(reply 1101 "To nowhere on facebook" "1101_999999")
X_IG=$(reply 2201 "To nowhere on instagram" "999999")
X_TH=$(reply 3301 "To nowhere on threads" "424242")
REPLIES="$R_FB,$R_IG,$R_TH,$X_FB,$X_IG,$X_TH"
wait_for "every reply to end" 30 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post
        where id in ($REPLIES) and status = 'scheduled'\")\" = 0 ]" || true
eq "(f) replies published, the others failed" "published published published failed failed failed" \
    "$(sql "select string_agg(status, ' ' order by id) from crieur.post where id in ($REPLIES)")"
LEDGER=$(curl -fsS "$SANDBOX/_sandbox/ledger")
for r in "facebook $R_FB Thanks from facebook" "instagram $R_IG Thanks from instagram" \
         "threads $R_TH Thanks from threads"; do
    set -- $r
    eq "$1 (f) the reply is on the platform once, with the reply's own id" "$(pid "$2")|" \
        "$(entry "$1" "${*:3}")"
done
TOK=(-H "Authorization: Bearer tok-1101")
eq "facebook (f) a comment on the post" "$(pid "$R_FB") Thanks from facebook" \
    "$(curl -fsS "${TOK[@]}" "$SANDBOX/facebook/$FB_PARENT/comments?fields=id,message" \
        | jq -r '.data | map("\(.id) \(.message)") | join("|")')"
eq "instagram (f) a comment on the media" "$(pid "$R_IG") Thanks from instagram" \
    "$(curl -fsS -H "Authorization: Bearer tok-2201" "$SANDBOX/instagram/$IG_PARENT/comments?fields=id,text" \
        | jq -r '.data | map("\(.id) \(.text)") | join("|")')"
eq "threads (f) a reply to the thread" "$(pid "$R_TH") Thanks from threads" \
    "$(curl -fsS -H "Authorization: Bearer tok-3301" "$SANDBOX/threads/$TH_PARENT/replies?fields=id,text" \
        | jq -r '.data | map("\(.id) \(.text)") | join("|")')"
for x in $X_FB $X_IG $X_TH; do
    check "(f) post $x: a reply to an unknown id failed after one permanent attempt, Graph code 100" \
        grep -Eq '^1 permanent 100(/33)?$' <<<"$(sql "select count(*) || ' ' || min(outcome) || ' ' || min(error_code)
            from crieur.attempt where ref_id = $x")"
done
eq "(f) nothing published for them" 0 \
    "$(jq '[.entries[] | select(.text | startswith("To nowhere"))] | length' <<<"$LEDGER")"

t_done
