#!/bin/sh
# testdata/e2e/41-add-git-auth.sh: ADD <git ref> from private repositories over HTTP, with
# BuildKit's GIT_AUTH_TOKEN / GIT_AUTH_HEADER build secrets.  The loopback git server
# (testdata/git/http_backend.py --auth) wants HTTP Basic auth for /private/ and logs whether
# each request carried the right Authorization.  Checks the errors without or with a wrong
# secret, the host scoping (a token for another host, a submodule on another host name), the
# cache, and that the token is nowhere: not in the image, the store, the build log or a kept
# .git.  Needs root, git, umoci, jq and Debian's /usr/bin/python3.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/testdata/e2e/lib.sh"
. "$here/testdata/registry/helpers.sh" # PY, pids, free_port, wait_port
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    [ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and git umoci jq "$PY"
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }

unpack() { rm -rf "$T/u-$2" && umoci unpack --image "$IMGBUILD_ROOT:docker.io/library/$1:latest" "$T/u-$2" >/dev/null 2>&1; }
one_line() { [ "$(grep -c '^imgbuild: ' "$T/$1.log")" -eq 1 ]; }
# private_ok: a ref lookup in a private repository carried the right Authorization
private_ok() { grep -q '^auth=ok .* /private/.*ls-refs$' "$T/http.log"; }

# ---- the repositories: a private one (with a submodule on another host name) and a public one
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home" GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com \
    GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com GIT_AUTHOR_DATE="@1700000000 +0000" \
    GIT_COMMITTER_DATE="@1700000000 +0000"
mkdir -p "$HOME" "$T/srv/private" "$T/srv/pub"
TOK=s3cr3t-e2e-TOKEN-4711
git init -q -b main "$T/lib" && echo lib >"$T/lib/lib.txt"
git -C "$T/lib" add -A && git -C "$T/lib" commit -qm lib
git clone -q --bare "$T/lib" "$T/srv/pub/lib.git"
LIBC=$(git -C "$T/lib" rev-parse HEAD)
W="$T/work"
git init -q -b main "$W" && echo private-data >"$W/a.txt"
git -C "$W" add -A && git -C "$W" commit -qm c1
C1=$(git -C "$W" rev-parse HEAD)
: >"$T/http.log"
$PY "$here/testdata/git/http_backend.py" "$T/srv" "$T/http.port" "$T/http.log" \
    --auth /private/ "x-access-token:$TOK" 2>"$T/http.err" &
pids="$pids $!"
i=0
while [ $i -lt 100 ] && [ ! -s "$T/http.port" ]; do sleep 0.1; i=$((i + 1)); done
HP=$(cat "$T/http.port")
git -C "$W" checkout -qb withsub
printf '[submodule "lib"]\n\tpath = lib\n\turl = http://localhost:%s/pub/lib.git\n' "$HP" >"$W/.gitmodules"
git -C "$W" add .gitmodules && git -C "$W" update-index --add --cacheinfo "160000,$LIBC,lib"
git -C "$W" commit -qm sub && git -C "$W" checkout -q main
git clone -q --bare "$T/lib" "$T/srv/private/lib.git" # the same private lib, on the same host
git -C "$W" checkout -qb privsub
printf '[submodule "lib"]\n\tpath = lib\n\turl = ../lib.git\n' >"$W/.gitmodules"
git -C "$W" add .gitmodules && git -C "$W" update-index --add --cacheinfo "160000,$LIBC,lib"
git -C "$W" commit -qm privsub && git -C "$W" checkout -q main
git clone -q --bare "$W" "$T/srv/private/repo.git"
t "the smart HTTP server listens on loopback" wait_port "$HP"
B64=$(printf 'x-access-token:%s' "$TOK" | base64 -w0)
printf '%s\n' "$TOK" >"$T/token" # a file as `echo` writes it: the newline is dropped
printf 'wrong-token\n' >"$T/wrong"
U="http://127.0.0.1:$HP/private/repo.git"
PUB="http://127.0.0.1:$HP/pub/lib.git"
# no token, base64 of it or auth header in: FILES...
clean_of_token() { ! grep -rqaF -e "$TOK" -e "$B64" -e "extraHeader" -e "x-access-token" "$@"; }

C="$T/ctx"
mkdir -p "$C"
cat >"$C/Dockerfile" <<EOF
FROM busybox
ADD $U /repo
ADD --keep-git-dir=true $U /kept
ADD $U#withsub /withsub
ADD $U#privsub /privsub
EOF

# ---- no secret, a wrong one, one for another host ------------------------------------------------
build none "$C"
t "no secret: exit 1, one line naming the repository and the ref" eval "[ $(rc none) -eq 1 ] && one_line none && grep -q \"Dockerfile:2: ADD failed: git repository '$U' (ref HEAD): git ls-remote: \" $T/none.log"
t "no secret: the error hints at --secret id=GIT_AUTH_TOKEN" grep -q 'repository needs credentials: give a token with --secret id=GIT_AUTH_TOKEN,src=FILE or env=VAR, or a whole Authorization header with --secret id=GIT_AUTH_HEADER' "$T/none.log"
t "no secret: the server got no Authorization" eval "grep -q '^auth=none GET /private/repo.git/info/refs 401' $T/http.log && ! grep -q '^auth=ok\|^auth=bad' $T/http.log"
: >"$T/http.log"
build wrong --secret "id=GIT_AUTH_TOKEN,src=$T/wrong" "$C"
t "a wrong token: exit 1, one line, the server refused secret 'GIT_AUTH_TOKEN'" eval "[ $(rc wrong) -eq 1 ] && one_line wrong && grep -q \"git repository '$U' (ref HEAD): git ls-remote: .*(HTTP: the server refused the credentials of secret 'GIT_AUTH_TOKEN')\" $T/wrong.log"
t "a wrong token: it was sent (auth=bad) and is not in the log" eval "grep -q '^auth=bad GET /private/' $T/http.log && ! grep -q wrong-token $T/wrong.log"
: >"$T/http.log"
build other --secret "id=GIT_AUTH_TOKEN.example.com,src=$T/token" "$C"
t "a token scoped to another host is not sent" eval "[ $(rc other) -eq 1 ] && grep -q 'needs credentials' $T/other.log && ! grep -q '^auth=ok\|^auth=bad' $T/http.log"
: >"$T/http.log"
build empty --secret "id=GIT_AUTH_TOKEN,env=IB_EMPTY_TOKEN" "$C"
t "an unset env= secret counts as not given" eval "[ $(rc empty) -eq 1 ] && grep -q 'needs credentials' $T/empty.log"

# ---- GIT_AUTH_TOKEN from a file ------------------------------------------------------------------------
: >"$T/http.log"
build tok -t priv --secret "id=GIT_AUTH_TOKEN,src=$T/token" "$C"
unpack priv priv
R="$T/u-priv/rootfs"
t "GIT_AUTH_TOKEN from a file: the build succeeds" test "$(rc tok)" -eq 0
t "the private repository is in the image" eval "[ \"\$(cat $R/repo/a.txt)\" = private-data ] && [ \"\$(cat $R/kept/a.txt)\" = private-data ]"
t "every private request carried the token (ls-refs and fetch)" eval "private_ok && grep -q '^auth=ok .* /private/.* fetch$' $T/http.log && ! grep -q ' 401$' $T/http.log"
t "a submodule on another host name gets no Authorization" eval "[ \"\$(cat $R/withsub/lib/lib.txt)\" = lib ] && grep -q 'localhost\\|/pub/lib.git' $T/http.log && ! grep -q '^auth=ok .* /pub/' $T/http.log"
t "a private submodule on the same host gets the token too" eval "[ \"\$(cat $R/privsub/lib/lib.txt)\" = lib ] && grep -q '^auth=ok .* /private/lib.git/.* fetch$' $T/http.log"
t "--keep-git-dir: the kept .git works and has no token, header or user in it" eval "[ \"\$(git --git-dir=$R/kept/.git rev-parse HEAD)\" = $C1 ] && clean_of_token $R/kept/.git"
t "--keep-git-dir: origin is the plain URL" eval "[ \"\$(git --git-dir=$R/kept/.git config remote.origin.url)\" = '$U' ]"
t "the token is not in the unpacked image" clean_of_token "$R"
t "the token is nowhere in the store (blobs, snapshots, cache)" clean_of_token "$IMGBUILD_ROOT"
t "the token is not in the build log" clean_of_token "$T/tok.log" "$T/tok.out"
t "the server log names no token" clean_of_token "$T/http.log"
t "the store's tmp dir is left empty" eval "[ -z \"\$(ls -A $IMGBUILD_ROOT/tmp)\" ]"

# ---- cache: a secret is not part of the key ----------------------------------------------------
: >"$T/http.log"
build again -t priv --secret "id=GIT_AUTH_TOKEN,src=$T/token" "$C"
t "rebuild: every step CACHED, nothing fetched" eval "[ $(rc again) -eq 0 ] && [ \$(cached again) -eq 4 ] && ! grep -q ' fetch$' $T/http.log"
M="$T/cid"
mkdir -p "$M"
printf 'FROM busybox\nADD %s#%s /c\n' "$U" "$C1" >"$M/Dockerfile"
build cid1 --secret "id=GIT_AUTH_TOKEN,src=$T/token" "$M"
build cid2 "$M"
t "a full commit id: built with the token, then CACHED without any secret (same key)" eval "[ $(rc cid1) -eq 0 ] && [ $(rc cid2) -eq 0 ] && grep -q '^#2 CACHED' $T/cid2.log"
build cid3 --no-cache "$M"
t "... but a fetch without the secret fails" eval "[ $(rc cid3) -eq 1 ] && grep -q 'needs credentials' $T/cid3.log"

# ---- other ways to give the secret ---------------------------------------------------------------------
MYTOK=$TOK
export MYTOK
: >"$T/http.log"
build env --no-cache -t envimg --secret id=GIT_AUTH_TOKEN,env=MYTOK "$C"
t "GIT_AUTH_TOKEN from env=VAR" eval "[ $(rc env) -eq 0 ] && private_ok && clean_of_token $T/env.log"
: >"$T/http.log"
GIT_AUTH_TOKEN=$TOK "$IMGBUILD" build --progress plain --no-cache --secret id=GIT_AUTH_TOKEN "$C" >/dev/null 2>"$T/envid.log"
echo $? >"$T/envid.rc"
t "GIT_AUTH_TOKEN from the variable of its own name (--secret id=GIT_AUTH_TOKEN)" eval "[ $(rc envid) -eq 0 ] && private_ok"
: >"$T/http.log"
build host --no-cache --secret "id=GIT_AUTH_TOKEN.127.0.0.1,src=$T/token" "$C"
t "host-scoped GIT_AUTH_TOKEN.127.0.0.1" eval "[ $(rc host) -eq 0 ] && private_ok"
build hostport --no-cache --secret "id=GIT_AUTH_TOKEN.127.0.0.1:$HP,src=$T/token" "$C"
t "host-scoped with the port, GIT_AUTH_TOKEN.127.0.0.1:PORT" test "$(rc hostport)" -eq 0
build hostwins --no-cache --secret "id=GIT_AUTH_TOKEN,src=$T/wrong" --secret "id=GIT_AUTH_TOKEN.127.0.0.1,src=$T/token" "$C"
t "the host-scoped token wins over GIT_AUTH_TOKEN" test "$(rc hostwins)" -eq 0
printf 'basic %s\n' "$B64" >"$T/header"
: >"$T/http.log"
build header --no-cache --secret "id=GIT_AUTH_HEADER,src=$T/header" "$C"
t "GIT_AUTH_HEADER (basic BASE64)" eval "[ $(rc header) -eq 0 ] && private_ok && clean_of_token $T/header.log"
BEARER="bearer $TOK"
export BEARER
build bearer --no-cache --secret id=GIT_AUTH_HEADER,env=BEARER "$C"
t "GIT_AUTH_HEADER (bearer TOKEN)" test "$(rc bearer)" -eq 0
build headerwins --no-cache --secret "id=GIT_AUTH_TOKEN,src=$T/wrong" --secret "id=GIT_AUTH_HEADER,src=$T/header" "$C"
t "a header and a token: the header wins" test "$(rc headerwins)" -eq 0
printf 'bearer nope\n' >"$T/badheader"
build badheader --no-cache --secret "id=GIT_AUTH_HEADER.127.0.0.1,src=$T/badheader" "$C"
t "a wrong header: the server refused secret 'GIT_AUTH_HEADER.127.0.0.1'" eval "[ $(rc badheader) -eq 1 ] && one_line badheader && grep -q \"refused the credentials of secret 'GIT_AUTH_HEADER.127.0.0.1'\" $T/badheader.log"
printf 'a\nb\n' >"$T/twolines"
build twolines --no-cache --secret "id=GIT_AUTH_TOKEN,src=$T/twolines" "$C"
t "a secret of two lines is refused, without its value" eval "[ $(rc twolines) -eq 1 ] && grep -q \"secret 'GIT_AUTH_TOKEN' has a control character\" $T/twolines.log"
mkdir -p "$T/wrap" # a git that logs its command line, then runs the real one
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s/argv.txt"\nexec %s "$@"\n' "$T" "$(command -v git)" >"$T/wrap/git"
chmod 755 "$T/wrap/git"
PATH="$T/wrap:$PATH" "$IMGBUILD" build --progress plain --no-cache --secret "id=GIT_AUTH_TOKEN,src=$T/token" "$C" >/dev/null 2>"$T/wrap.log"
echo $? >"$T/wrap.rc"
t "git's command lines (what ps shows) never hold the token or the header" eval "[ $(rc wrap) -eq 0 ] && grep -q ' ls-remote ' $T/argv.txt && clean_of_token $T/argv.txt"
t "no build log holds the token" clean_of_token "$T"/*.log
P="$T/pub"
mkdir -p "$P"
printf 'FROM busybox\nADD %s /pub\n' "$PUB" >"$P/Dockerfile"
: >"$T/http.log"
build pub -t pub "$P"
unpack pub pub
t "a public repository on the same server: no secret needed, none sent" eval "[ $(rc pub) -eq 0 ] && [ \"\$(cat $T/u-pub/rootfs/pub/lib.txt)\" = lib ] && ! grep -q '^auth=ok\|^auth=bad' $T/http.log"
t "the store is consistent, its tmp dir empty" eval "\"$IMGBUILD\" fsck >/dev/null && [ -z \"\$(ls -A $IMGBUILD_ROOT/tmp)\" ]"

done_testing
