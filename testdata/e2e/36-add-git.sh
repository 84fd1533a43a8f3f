#!/bin/sh
# testdata/e2e/36-add-git.sh: ADD <git ref> against real git servers on loopback, no internet:
# git's smart HTTP (`git http-backend` behind testdata/git/http_backend.py, which logs each
# request: ls-refs vs fetch) and `git daemon` for git://.  A repository with tags (annotated
# and lightweight), a branch, a subdir, an executable, a symlink and a submodule.  Checks with
# umoci unpack + file tests, the request log (cache hits fetch nothing), and the errors.
# Needs root, git, umoci, jq and Debian's /usr/bin/python3.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/testdata/e2e/lib.sh"
. "$here/testdata/registry/helpers.sh" # PY, pids, free_port, wait_port, stop_pid
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and git umoci jq "$PY"
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }

ib() { "$IMGBUILD" "$@"; }
unpack() { rm -rf "$T/u-$2" && umoci unpack --image "$IMGBUILD_ROOT:docker.io/library/$1:latest" "$T/u-$2" >/dev/null 2>&1; }
fetches() { grep -c ' fetch$\| want$' "$T/http.log"; }

# ---- the repositories --------------------------------------------------------------------
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home" GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com \
    GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
mkdir -p "$HOME" "$T/srv"
commit() { # TIME MESSAGE [noadd] (in $W)
    [ $# -gt 2 ] || git -C "$W" add -A
    GIT_AUTHOR_DATE="@$1 +0000" GIT_COMMITTER_DATE="@$1 +0000" git -C "$W" commit -qm "$2"
}
W="$T/lib"
git init -q -b main "$W" && echo lib >"$W/lib.txt" && commit 1600000000 lib
git clone -q --bare "$W" "$T/srv/lib.git"
LIBC=$(git -C "$W" rev-parse HEAD)
W="$T/work"
git init -q -b main "$W"
echo one >"$W/a.txt"
printf '#!/bin/sh\necho run\n' >"$W/run.sh" && chmod 755 "$W/run.sh"
ln -s a.txt "$W/link"
mkdir -p "$W/docs/deep" && echo readme >"$W/docs/readme" && echo x >"$W/docs/deep/x.txt"
commit 1700000000 c1
C1=$(git -C "$W" rev-parse HEAD)
git -C "$W" tag -a v1 -m "release 1"
git -C "$W" tag light
TAGOBJ=$(git -C "$W" rev-parse v1)
git -C "$W" checkout -qb dev && echo dev >"$W/dev.txt" && echo devdoc >"$W/docs/dev.md"
commit 1700000100 c2
C2=$(git -C "$W" rev-parse HEAD)
git -C "$W" checkout -qb withsub main
printf '[submodule "lib"]\n\tpath = lib\n\turl = ../lib.git\n' >"$W/.gitmodules"
git -C "$W" add .gitmodules && git -C "$W" update-index --add --cacheinfo "160000,$LIBC,lib"
commit 1700000150 sub noadd # (add -A would drop the gitlink: lib/ is not checked out here)
git -C "$W" checkout -q main && echo two >"$W/a.txt" && commit 1700000200 c3
C3=$(git -C "$W" rev-parse HEAD)
git clone -q --bare "$W" "$T/srv/repo.git"
git -C "$W" remote add srv "$T/srv/repo.git"

# ---- servers ---------------------------------------------------------------------------------
: >"$T/http.log"
$PY "$here/testdata/git/http_backend.py" "$T/srv" "$T/http.port" "$T/http.log" 2>"$T/http.err" &
pids="$pids $!"
i=0
while [ ! -s "$T/http.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
HP=$(cat "$T/http.port")
GP=$(free_port)
git daemon --reuseaddr --base-path="$T/srv" --export-all --listen=127.0.0.1 --port="$GP" \
    "$T/srv" 2>"$T/daemon.err" &
pids="$pids $!"
t "the smart HTTP server and git daemon listen on loopback" eval "wait_port $HP && wait_port $GP"
U="http://127.0.0.1:$HP/repo.git"

# ---- one build with every form ------------------------------------------------------------------
C="$T/ctx"
mkdir -p "$C"
cat >"$C/Dockerfile" <<EOF
FROM busybox
ADD $U /head
ADD $U#dev /branch/
ADD $U#v1 /tag
ADD $U#light /light
ADD $U#$C1 /commit
ADD $U#main:docs /sub
ADD $U##ref=v1,subdir=docs/deep /csv
ADD --keep-git-dir=true $U#dev /keep
ADD --chown=7:8 --chmod=750 $U#v1:docs /owned
ADD --exclude=*.txt --exclude=docs/deep $U#main /excl
ADD --checksum=$(echo "$C3" | cut -c1-10) $U#main /sum
ADD --link $U#v1 /linked
ADD $U#withsub /withsub
ADD git://127.0.0.1:$GP/repo.git#dev /daemon
EOF
build all -t gitall "$C"
t "a build with 14 git sources succeeds" test "$(rc all)" -eq 0
unpack gitall all
R="$T/u-all/rootfs"
t "default ref: the remote's HEAD (main)" eval "[ \"\$(cat $R/head/a.txt)\" = two ] && [ ! -e $R/head/dev.txt ]"
t "#branch" eval "[ \"\$(cat $R/branch/dev.txt)\" = dev ] && [ \"\$(cat $R/branch/a.txt)\" = one ]"
t "#tag (annotated)" eval "[ \"\$(cat $R/tag/a.txt)\" = one ] && [ ! -e $R/tag/dev.txt ]"
t "#tag (lightweight)" eval "[ \"\$(cat $R/light/a.txt)\" = one ]"
t "#commit (full id, not a branch tip)" eval "[ \"\$(cat $R/commit/a.txt)\" = one ] && [ -x $R/commit/run.sh ]"
t "#ref:subdir copies the directory's contents" eval "[ -f $R/sub/readme ] && [ -f $R/sub/deep/x.txt ] && [ ! -e $R/sub/a.txt ]"
t "##ref=,subdir= (BuildKit's CSV fragment)" eval "[ -f $R/csv/x.txt ] && [ ! -e $R/csv/readme ]"
t "the executable bit is kept (0755), other files 0644, dirs 0755" eval "[ \$(stat -c %a $R/head/run.sh) = 755 ] && [ \$(stat -c %a $R/head/a.txt) = 644 ] && [ \$(stat -c %a $R/head/docs) = 755 ]"
t "a symlink stays a link" eval "[ -L $R/head/link ] && [ \"\$(readlink $R/head/link)\" = a.txt ]"
t "owner 0:0 without --chown" eval "[ \$(stat -c %u:%g $R/head/a.txt) = 0:0 ]"
t "no .git without --keep-git-dir" eval "[ ! -e $R/head/.git ] && [ ! -e $R/tag/.git ]"
t "mtimes are the commit time (files, links, dirs)" eval "[ \$(stat -c %Y $R/head/a.txt) = 1700000200 ] && [ \$(stat -c %Y $R/head/link) = 1700000200 ] && [ \$(stat -c %Y $R/head/docs) = 1700000200 ] && [ \$(stat -c %Y $R/tag/a.txt) = 1700000000 ]"
t "--keep-git-dir=true: a .git on the branch at its commit" eval "[ \"\$(git --git-dir=$R/keep/.git rev-parse HEAD)\" = $C2 ] && [ \"\$(git --git-dir=$R/keep/.git symbolic-ref --short HEAD)\" = dev ]"
t "--keep-git-dir=true: the work tree is clean" eval "[ -z \"\$(git --git-dir=$R/keep/.git --work-tree=$R/keep status --porcelain)\" ]"
t "--chown and --chmod apply" eval "[ \$(stat -c %u:%g:%a $R/owned/readme) = 7:8:750 ] && [ \$(stat -c %u:%g:%a $R/owned/deep) = 7:8:750 ]"
t "--exclude applies to the tree" eval "[ ! -e $R/excl/a.txt ] && [ ! -e $R/excl/docs/deep ] && [ -f $R/excl/docs/readme ] && [ -f $R/excl/run.sh ]"
t "--checksum with a prefix of the commit id" eval "[ \"\$(cat $R/sum/a.txt)\" = two ]"
t "--link" eval "[ \"\$(cat $R/linked/a.txt)\" = one ]"
t "submodules are checked out (relative URL, same server), without their .git" eval "[ \"\$(cat $R/withsub/lib/lib.txt)\" = lib ] && [ ! -e $R/withsub/lib/.git ]"
t "git:// (git daemon)" eval "[ \"\$(cat $R/daemon/dev.txt)\" = dev ]"
t "history shows the instruction" eval "ib inspect gitall | jq -r '.[0].History[].created_by' | grep -qx 'ADD $U#main:docs /sub # buildkit'"
t "the store's tmp dir is left empty" eval "[ -z \"\$(ls -A $IMGBUILD_ROOT/tmp)\" ]"

# ---- the query form (BuildKit 0.24): ?ref=, tag, branch, subdir, checksum/commit, ... -----------
Q="$T/q"
mkdir -p "$Q"
P3=$(echo "$C3" | cut -c1-12)
cat >"$Q/Dockerfile" <<EOF
FROM busybox
ADD $U?ref=dev /qref
ADD $U?tag=v1 /qtag
ADD $U?branch=dev /qbranch
ADD $U?subdir=docs /qsub
ADD $U?branch=dev&subdir=docs /qbsub
ADD $U?ref=main&checksum=$P3 /qsum
ADD $U?checksum=$C1 /qsumref
ADD $U?branch=main&commit=$P3 /qcommit
ADD $U?ref=refs%2Fheads%2Fdev&subdir=%64ocs /qenc
ADD $U?keep-git-dir&ref=dev /qkeep
ADD $U?keep-git-dir=true /qkeeptrue
ADD --keep-git-dir=true $U?keep-git-dir=1&tag=v1 /qkeepboth
ADD $U?ref=main&keep-git-dir=false /qkeepoff
ADD $U?branch=withsub&submodules=false /qnosub
ADD $U?branch=withsub&submodules /qsubs
ADD git://127.0.0.1:$GP/repo.git?tag=v1 /qdaemon
EOF
build q -t gitq "$Q"
t "a build with 16 query-form git sources succeeds" test "$(rc q)" -eq 0
unpack gitq q
R="$T/u-q/rootfs"
t "?ref=dev" eval "[ \"\$(cat $R/qref/dev.txt)\" = dev ] && [ \"\$(cat $R/qref/a.txt)\" = one ]"
t "?tag= (annotated): refs/tags/v1" eval "[ \"\$(cat $R/qtag/a.txt)\" = one ] && [ ! -e $R/qtag/dev.txt ]"
t "?branch=dev" eval "[ \"\$(cat $R/qbranch/dev.txt)\" = dev ] && [ ! -e $R/qbranch/.git ]"
t "?subdir=docs (the remote's HEAD)" eval "[ -f $R/qsub/readme ] && [ -f $R/qsub/deep/x.txt ] && [ ! -e $R/qsub/a.txt ] && [ ! -e $R/qsub/dev.md ]"
t "?branch=dev&subdir=docs" eval "[ \"\$(cat $R/qbsub/dev.md)\" = devdoc ] && [ -f $R/qbsub/readme ] && [ ! -e $R/qbsub/dev.txt ]"
t "?ref=main&checksum= a prefix of the commit id" eval "[ \"\$(cat $R/qsum/a.txt)\" = two ]"
t "?checksum= a full commit id without a ref: the commit is the ref" eval "[ \"\$(cat $R/qsumref/a.txt)\" = one ] && [ ! -e $R/qsumref/dev.txt ]"
t "?commit= (an alias of checksum)" eval "[ \"\$(cat $R/qcommit/a.txt)\" = two ]"
t "percent-encoded values (refs%2Fheads%2Fdev, %64ocs)" eval "[ \"\$(cat $R/qenc/dev.md)\" = devdoc ] && [ ! -e $R/qenc/a.txt ]"
t "?keep-git-dir (a bare key) keeps .git, on the branch" eval "[ \"\$(git --git-dir=$R/qkeep/.git rev-parse HEAD)\" = $C2 ] && [ \"\$(git --git-dir=$R/qkeep/.git symbolic-ref --short HEAD)\" = dev ]"
t "?keep-git-dir=true keeps .git; origin is the URL without the query" eval "[ \"\$(git --git-dir=$R/qkeeptrue/.git rev-parse HEAD)\" = $C3 ] && [ \"\$(git --git-dir=$R/qkeeptrue/.git config remote.origin.url)\" = $U ]"
t "?keep-git-dir=1 agrees with --keep-git-dir=true" eval "[ \"\$(git --git-dir=$R/qkeepboth/.git rev-parse HEAD)\" = $C1 ]"
t "?keep-git-dir=false: no .git" eval "[ -f $R/qkeepoff/a.txt ] && [ ! -e $R/qkeepoff/.git ]"
t "?submodules=false leaves the submodule's dir empty" eval "[ -d $R/qnosub/lib ] && [ -z \"\$(ls -A $R/qnosub/lib)\" ] && [ -f $R/qnosub/.gitmodules ]"
t "?submodules (a bare key: true) checks them out" eval "[ \"\$(cat $R/qsubs/lib/lib.txt)\" = lib ]"
t "git:// with a query (stripped from the remote)" eval "[ \"\$(cat $R/qdaemon/a.txt)\" = one ] && [ ! -e $R/qdaemon/dev.txt ]"
: >"$T/http.log"
build q2 -t gitq "$Q"
t "query form: a rebuild hits the cache for every step, fetches nothing" eval "[ $(rc q2) -eq 0 ] && [ \$(cached q2) -eq 16 ] && [ \$(fetches) -eq 0 ]"
SM="$T/sm"
mkdir -p "$SM"
printf 'FROM busybox\nADD %s#withsub /s\n' "$U" >"$SM/Dockerfile"
build sm1 -t sm "$SM"
unpack sm sm1
build sm1b --explain-cache -t sm "$SM"
printf 'FROM busybox\nADD %s?submodules=false#withsub /s\n' "$U" >"$SM/Dockerfile"
build sm2 --explain-cache -t sm "$SM"
unpack sm sm2
t "by default the submodule is checked out" eval "[ $(rc sm1) -eq 0 ] && [ \"\$(cat $T/u-sm1/rootfs/s/lib/lib.txt)\" = lib ]"
t "the default's cache inputs have no submodules entry (earlier keys stay valid)" eval "[ $(rc sm1b) -eq 0 ] && grep -q '^#2 CACHED' $T/sm1b.log && ! grep -q 'submodules' $T/sm1b.log"
t "submodules=false: a cache miss, and --explain-cache shows it" eval "[ $(rc sm2) -eq 0 ] && ! grep -q '^#2 CACHED' $T/sm2.log && grep -q 'submodules=false' $T/sm2.log && [ -d $T/u-sm2/rootfs/s/lib ] && [ -z \"\$(ls -A $T/u-sm2/rootfs/s/lib)\" ]"

# ---- cache ------------------------------------------------------------------------------------
: >"$T/http.log"
build again -t gitall "$C"
t "rebuild: every step cached" eval "[ $(rc again) -eq 0 ] && [ \$(cached again) -eq 14 ]"
t "rebuild: refs were resolved (ls-refs), nothing was fetched" eval "grep -q ' ls-refs$' $T/http.log && [ \$(fetches) -eq 0 ]"
t "rebuild: a full commit id needs no network at all" eval "[ \$(grep -c ' ls-refs$' $T/http.log) -eq 12 ]"
mkdir -p "$T/cid"
printf 'FROM busybox\nADD %s#%s /c\n' "$U" "$C1" >"$T/cid/Dockerfile"
build cid1 "$T/cid"
env PATH="$T/empty" "$IMGBUILD" build --progress plain "$T/cid" >/dev/null 2>"$T/cid2.log"
t "a full commit id: the cached step needs neither network nor git" eval "[ $(rc cid1) -eq 0 ] && grep -q '^#2 CACHED' $T/cid2.log"
: >"$T/http.log"
build nocache --no-cache -t gitall "$C"
t "--no-cache fetches again" eval "[ $(rc nocache) -eq 0 ] && [ \$(cached nocache) -eq 0 ] && [ \$(fetches) -ge 13 ]"
M="$T/moved"
mkdir -p "$M"
printf 'FROM busybox\nADD %s#dev /branch\nADD %s /head\n' "$U" "$U" >"$M/Dockerfile"
build moved1 -t moved "$M"
echo three >"$T/work/new.txt"
commit 1700000300 c4
git -C "$T/work" push -q srv main
: >"$T/http.log"
build moved2 --explain-cache -t moved "$M"
unpack moved moved
t "a new commit on main: that step misses, the one before hits" eval "[ $(rc moved2) -eq 0 ] && grep -q '^#2 CACHED' $T/moved2.log && ! grep -q '^#3 CACHED' $T/moved2.log && [ -f $T/u-moved/rootfs/head/new.txt ]"
t "--explain-cache shows the new commit" grep -q "commit $(git -C "$T/work" rev-parse HEAD)" "$T/moved2.log"
t "only the missed step fetched" eval "[ \$(fetches) -eq 1 ]"

mkdir -p "$T/rep"
printf 'FROM busybox\nADD %s#v1 /x\n' "$U" >"$T/rep/Dockerfile"
ib build -q --no-cache -t rep1 "$T/rep" >/dev/null 2>&1
ib build -q --no-cache -t rep2 "$T/rep" >/dev/null 2>&1
t "reproducible: two --no-cache builds give the same layers" eval "[ \"\$(ib inspect rep1 | jq -c .[0].RootFS.Layers)\" = \"\$(ib inspect rep2 | jq -c .[0].RootFS.Layers)\" ]"

# ---- errors ---------------------------------------------------------------------------------------
E="$T/err"
mkdir -p "$E"
fails() { # NAME LINE: build $E with Dockerfile line 2 = LINE
    printf 'FROM busybox\n%s\n' "$2" >"$E/Dockerfile"
    build "$1" "$E"
}
one_line() { [ "$(grep -c '^imgbuild: ' "$T/$1.log")" -eq 1 ]; }
fails badsum "ADD --checksum=0000000 $U#v1 /x"
t "--checksum mismatch: exit 1, FILE:LINE, the URL and both ids" eval "[ $(rc badsum) -eq 1 ] && grep -q \"Dockerfile:2: ADD failed: git repository '$U' (ref 'v1'): --checksum=0000000 matches neither commit $C1 nor tag object $TAGOBJ\" $T/badsum.log"
fails badsum2 "ADD --checksum=1234abc $U#$C2 /x"
t "--checksum mismatch with a commit id ref (no network)" eval "[ $(rc badsum2) -eq 1 ] && grep -q \"Dockerfile:2: ADD failed: .*--checksum=1234abc does not match commit $C2\" $T/badsum2.log"
fails sumfmt "ADD --checksum=sha256:abc $U /x"
t "--checksum for git must be hex" eval "[ $(rc sumfmt) -eq 1 ] && grep -q \"Dockerfile:2: invalid --checksum 'sha256:abc' for a git source\" $T/sumfmt.log"
fails noref "ADD $U#nope /x"
t "unknown ref: one line with FILE:LINE, the URL and the ref" eval "[ $(rc noref) -eq 1 ] && one_line noref && grep -q \"Dockerfile:2: ADD failed: git repository '$U' (ref 'nope'): no branch, tag or ref 'nope' in the repository\" $T/noref.log"
fails norepo "ADD http://127.0.0.1:$HP/missing.git#main /x"
t "unknown repository" eval "[ $(rc norepo) -eq 1 ] && one_line norepo && grep -q \"Dockerfile:2: ADD failed: git repository 'http://127.0.0.1:$HP/missing.git' (ref 'main'): git ls-remote: repository .* not found\" $T/norepo.log"
DEAD=$(free_port)
fails unreach "ADD http://127.0.0.1:$DEAD/repo.git /x"
t "unreachable repository" eval "[ $(rc unreach) -eq 1 ] && one_line unreach && grep -q \"Dockerfile:2: ADD failed: git repository 'http://127.0.0.1:$DEAD/repo.git' (ref HEAD): git ls-remote: .*Failed to connect\" $T/unreach.log"
fails nosub "ADD $U#main:nothere /x"
t "a subdir that is not there" eval "[ $(rc nosub) -eq 1 ] && grep -q \"Dockerfile:2: ADD failed: git repository '$U' (ref 'main'): subdir 'nothere' is not a directory at commit\" $T/nosub.log"
fails badref "ADD $U#--upload-pack=touch /x"
t "a ref that looks like an option is refused" eval "[ $(rc badref) -eq 1 ] && grep -q \"invalid git ref '--upload-pack=touch'\" $T/badref.log"
fails copy "COPY $U /x"
t "COPY of a git URL is refused" eval "[ $(rc copy) -eq 1 ] && grep -q \"COPY: source can't be a URL\" $T/copy.log"
printf 'FROM busybox\nADD %s /x\n' "$U" >"$E/Dockerfile"
env PATH="$T/empty" "$IMGBUILD" build --progress plain --no-cache "$E" >/dev/null 2>"$T/nogit.log"
echo $? >"$T/nogit.rc"
t "git missing: a clear error" eval "[ $(rc nogit) -eq 1 ] && grep -q \"Dockerfile:2: ADD failed: git repository '$U' (ref HEAD): git is not installed\" $T/nogit.log"
one_error() { [ "$(grep -c "Dockerfile:2:" "$T/$1.log")" -eq 1 ]; } # a parse error: one line, no "imgbuild: "
fails qbadsum "ADD $U?tag=v1&checksum=0000000 /x"
t "?checksum= mismatch: FILE:LINE, the URL and both ids" eval "[ $(rc qbadsum) -eq 1 ] && one_line qbadsum && grep -qF \"Dockerfile:2: ADD failed: git repository '$U' (ref 'refs/tags/v1'): ?checksum=0000000 matches neither commit $C1 nor tag object $TAGOBJ\" $T/qbadsum.log"
fails qbadcommit "ADD $U?ref=dev&commit=1234abc /x"
t "?commit= mismatch" eval "[ $(rc qbadcommit) -eq 1 ] && one_line qbadcommit && grep -qF \"Dockerfile:2: ADD failed: git repository '$U' (ref 'dev'): ?commit=1234abc does not match commit $C2\" $T/qbadcommit.log"
fails qkeepconf "ADD --keep-git-dir=false $U?keep-git-dir /x"
t "--keep-git-dir=false vs ?keep-git-dir: a conflict" eval "[ $(rc qkeepconf) -eq 1 ] && one_error qkeepconf && grep -qF \"Dockerfile:2: ADD failed: '$U': --keep-git-dir=false conflicts with keep-git-dir=true in the URL\" $T/qkeepconf.log"
qerr() { # NAME QUERY MESSAGE: ADD of $U with that query (and fragment) fails at line 2 so
    fails "$1" "ADD $U$2 /x"
    t "query error: $3" eval "[ $(rc "$1") -eq 1 ] && one_error $1 && grep -qF \"Dockerfile:2: ADD failed: '$U$2': $3\" $T/$1.log"
}
qerr qunknown "?x=1" "unexpected query 'x'"
qerr qtwice "?ref=main&ref=dev" "query 'ref' has multiple values"
qerr qalias "?checksum=abc&commit=abc" "query 'commit' has multiple values"
qerr qempty "?ref=" "query 'ref' has no value"
qerr qbare "?subdir" "query 'subdir' has no value"
qerr qbool "?submodules=no" "query 'submodules' has an invalid value 'no'"
qerr qtagbr "?tag=v1&branch=dev" "branch conflicts with tag"
qerr qrefc "?ref=main#dev" "ref conflicts: 'dev' vs 'main'"
qerr qtagc "?ref=main&tag=v1" "ref conflicts: 'main' vs 'refs/tags/v1'"
qerr qsubc "?subdir=docs#main:lib" "subdir conflicts: 'lib' vs 'docs'"
qerr qesc "?ref=%zz" "invalid escape in query 'ref=%zz'"
HUNG=$(free_port)
$PY -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(300)' "$HUNG" &
pids="$pids $!"
wait_port "$HUNG" >/dev/null
printf 'FROM busybox\nADD git://127.0.0.1:%s/repo.git /x\n' "$HUNG" >"$E/Dockerfile"
start=$(date +%s)
IMGBUILD_GIT_TIMEOUT=2 "$IMGBUILD" build --progress plain "$E" >/dev/null 2>"$T/hung.log"
echo $? >"$T/hung.rc"
took=$(($(date +%s) - start))
t "a server that never answers: git is stopped at the timeout" eval "[ $(rc hung) -eq 1 ] && [ $took -lt 20 ] && grep -q 'git ls-remote: timed out after 2 s (IMGBUILD_GIT_TIMEOUT)' $T/hung.log"
t "no git process is left behind" eval "! pgrep -f 'git.*127.0.0.1:$HUNG' >/dev/null"
t "the store is consistent after the failures" ib fsck
t "and its tmp dir is empty" eval "[ -z \"\$(ls -A $IMGBUILD_ROOT/tmp)\" ]"

done_testing
