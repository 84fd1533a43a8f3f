#!/bin/sh
# End-to-end tests of `imgbuild build`: the examples and focused Dockerfiles, checked with
# umoci (files, modes, owners), jq (config, history) and runc (the image's command); the
# cache (hits, misses, .dockerignore, --no-cache, --explain-cache), reproducible digests,
# RUN limits, outputs and errors.  Needs root, overlayfs, cgroups, busybox-static, umoci,
# runc and jq.
. testdata/e2e/lib.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
need_root_and umoci runc jq
busybox_store || { echo "not ok 1 - could not make the busybox base image"; exit 1; }

ib() { "$IMGBUILD" "$@"; }
# build LOG ARGS...: a plain-progress build, its log in $T/LOG.log, status in $T/LOG.rc
cfg() { ib inspect "$1" | jq -r ".[0].Config$2"; }
run_image() { # REF NAME: the image's command under runc; output in $T/NAME.run
    unpack "$1" "$2" || return 1
    jq '.process.terminal = false' "$T/u-$2/config.json" >"$T/u-$2/c.json" &&
        mv "$T/u-$2/c.json" "$T/u-$2/config.json"
    runc run --bundle "$T/u-$2" "ibt-$$-$2" >"$T/$2.run" 2>&1 </dev/null
    r=$?
    runc delete -f "ibt-$$-$2" >/dev/null 2>&1
    return $r
}

# ---- the examples ---------------------------------------------------------------------
build hello -t hello:1 Dockerfiles/hello
t "hello example builds" test "$(rc hello)" -eq 0
t "plain progress shows numbered steps" grep -q '^#3 \[build 3/4\] COPY hello.sh .$' "$T/hello.log"
t "RUN steps report CPU time and peak memory" grep -q '^#4 DONE .*(cpu .*s, peak memory .* MiB)' "$T/hello.log"
t "the image runs under runc" run_image docker.io/library/hello:1 hello
t "its command prints the greeting made in stage 1" grep -q '^Hello from imgbuild' "$T/hello.run"
t "CMD and USER in the config" eval "[ \"\$(ib inspect hello:1 | jq -c '.[0].Config.Cmd')\" = '[\"/usr/local/bin/hello\"]' ] && [ \"\$(cfg hello:1 .User)\" = app ]"
t "history as BuildKit writes it (RUN ... # buildkit)" eval "ib inspect hello:1 | jq -r '.[0].History[].created_by' | grep -qx 'COPY hello.sh /usr/local/bin/hello # buildkit'"
t "metadata steps are empty layers" eval "ib inspect hello:1 | jq -e '.[0].History[] | select(.created_by == \"USER app\") | .empty_layer'"
t "COPY --chmod=755" eval "unpack docker.io/library/hello:1 h2 && [ \"\$(stat -c %a $T/u-h2/rootfs/usr/local/bin/hello)\" = 755 ]"

touch "$T/before-hello2" && sleep 0.05
build hello2 -t hello:1 Dockerfiles/hello
t "a second build is all cached" eval "[ \$(cached hello2) -eq 6 ]"
t "a fully cached build rewrites no cache entries" eval "[ -z \"\$(find $IMGBUILD_ROOT/cache -type f -newer $T/before-hello2)\" ]"
t "same image id when cached (ids match)" eval "[ \"\$(ib inspect hello:1 | jq -r '.[0].RootFS.Layers | length')\" -ge 4 ]"

build feat -t features Dockerfiles/features
t "features example builds" test "$(rc feat)" -eq 0
t "features: runs under runc" run_image docker.io/library/features:latest feat
t "features: output from ENTRYPOINT with ENV and a file from stage 1" grep -qx 'features: hello world from imgbuild' "$T/feat.run"
t "features: .dockerignore keeps secret.txt out" test ! -e "$T/u-feat/rootfs/opt/app/secret.txt"
t "features: COPY --chown=app:app" eval "[ \"\$(stat -c %u:%g $T/u-feat/rootfs/opt/app/conf/app.conf)\" = 1000:1000 ]"
t "features: COPY heredoc expands ENV" grep -qx 'Welcome to hello world' "$T/u-feat/rootfs/etc/app/motd"
t "features: WORKDIR from ENV" eval "[ \"\$(cfg features .WorkingDir)\" = /opt/app ] && grep -qx 'built in /opt/app' $T/u-feat/rootfs/opt/app/where"
t "features: exec-form RUN" grep -qx 'exec form' "$T/u-feat/rootfs/opt/app/exec"
t "features: EXPOSE, VOLUME, STOPSIGNAL" eval "[ \"\$(ib inspect features | jq -c '.[0].Config | [.ExposedPorts, .Volumes, .StopSignal]')\" = '[{\"8080/tcp\":{},\"9090/udp\":{}},{\"/data\":{}},\"SIGTERM\"]' ]"
t "features: HEALTHCHECK in Docker's form" eval "[ \"\$(ib inspect features | jq -c '.[0].Config.Healthcheck')\" = '{\"Test\":[\"CMD-SHELL\",\"test -f /opt/app/where\"],\"Interval\":30000000000,\"Timeout\":3000000000,\"Retries\":2}' ]"
t "features: SHELL and OnBuild in the config" eval "[ \"\$(ib inspect features | jq -c '.[0].Config | [.Shell, .OnBuild]')\" = '[[\"/bin/sh\",\"-ec\"],[\"RUN echo \\\"child build of features\\\" > /tmp/onbuild.txt\"]]' ]"
t "features: LABEL and MAINTAINER" eval "[ \"\$(cfg features '.Labels[\"maintainer.team\"]')\" = build ] && [ \"\$(ib inspect features | jq -r '.[0].Author')\" = 'imgbuild developers' ]"

# ONBUILD triggers run in a child build, then are cleared
mkdir -p "$T/child"
printf 'FROM features\nUSER root\nRUN cat /tmp/onbuild.txt\n' >"$T/child/Dockerfile"
build child -t child "$T/child"
t "ONBUILD: the trigger ran in the child build" eval "unpack docker.io/library/child:latest child && grep -qx 'child build of features' $T/u-child/rootfs/tmp/onbuild.txt"
t "ONBUILD: triggers are cleared in the child image" eval "[ \"\$(cfg child .OnBuild)\" = null ]"

# ---- focused: ARG/ENV scoping, COPY, ADD ------------------------------------------------
C="$T/ctx"
mkdir -p "$C/sub/d"
echo a >"$C/a.txt"; echo b >"$C/sub/b.txt"; echo c >"$C/sub/d/c.txt"; echo i >"$C/ignored.txt"
ln -s a.txt "$C/link"
printf 'ignored.txt\n' >"$C/.dockerignore"
(cd "$C" && tar czf arch.tgz sub && tar cf plain.tar a.txt)
cat >"$C/Dockerfile" <<'EOF'
ARG G=global
FROM busybox
ARG G
ARG X=1
ENV E1=e1 E2="two words"
ENV E3=${E1}-x E1=changed
WORKDIR /w
WORKDIR rel
COPY a.txt sub link ./
COPY --chmod=u=rw,g=r,o= a.txt /sym/
ADD arch.tgz /unpacked/
ADD plain.tar /plain/
COPY --exclude=*.txt sub /excl/
COPY --parents sub/d/c.txt /par/
RUN echo "G=$G X=$X E3=$E3 E1=$E1" > /env.txt && pwd > /pwd.txt
RUN true
EOF
build focus -t focus "$C"
t "focused build succeeds" test "$(rc focus)" -eq 0
unpack docker.io/library/focus:latest focus
R="$T/u-focus/rootfs"
t "ARG: global value re-declared, ENV values from before the instruction" grep -qx 'G=global X=1 E3=e1-x E1=changed' "$R/env.txt"
t "ARGs are not in the image's Env" eval "! ib inspect focus | jq -r '.[0].Config.Env[]' | grep -q '^X='"
t "WORKDIR: relative chain, created" grep -qx /w/rel "$R/pwd.txt"
t "COPY: a directory's contents, files, symlinks as links" eval "[ -f $R/w/rel/b.txt ] && [ -f $R/w/rel/d/c.txt ] && [ \"\$(readlink $R/w/rel/link)\" = a.txt ]"
t "COPY --chmod symbolic" eval "[ \"\$(stat -c %a $R/sym/a.txt)\" = 640 ]"
t "ADD unpacks a gzip tar" test -f "$R/unpacked/sub/d/c.txt"
t "ADD unpacks a plain tar" test -f "$R/plain/a.txt"
t "COPY --exclude" eval "[ -d $R/excl/d ] && [ ! -e $R/excl/b.txt ]"
t "COPY --parents" test -f "$R/par/sub/d/c.txt"
t "RUN with no change adds no layer (empty_layer)" eval "ib inspect focus | jq -e '.[0].History[-1] | .created_by == \"RUN |2 G=global X=1 /bin/sh -c true # buildkit\" and .empty_layer'"

# ---- cache ---------------------------------------------------------------------------------
echo changed-ignored >"$C/ignored.txt"
build c1 -t focus "$C"
t "an ignored file's change keeps every step cached" eval "[ \$(cached c1) -eq 10 ]"
echo b2 >"$C/sub/b.txt"
build c2 --explain-cache -t focus "$C"
t "a changed source: steps before it hit" grep -q '^#3 CACHED' "$T/c2.log"
t "a changed source: that step and later ones run" eval "[ \$(cached c2) -eq 2 ] && ! grep -q '^#4 CACHED' $T/c2.log"
t "--explain-cache names the changed file" grep -q '+ file /w/rel/b.txt' "$T/c2.log"
t "--explain-cache: later steps miss because the step before changed" grep -q 'the step before it changed' "$T/c2.log"
build c3 --no-cache -t focus "$C"
t "--no-cache runs everything" eval "[ \$(cached c3) -eq 0 ] && [ $(rc c3) -eq 0 ]"
build c4 --build-arg X=2 -t focus "$C"
t "a changed build arg invalidates RUN only" eval "[ \$(cached c4) -eq 8 ]"

# ---- reproducible ----------------------------------------------------------------------------
export SOURCE_DATE_EPOCH=1700000000
ib build -q --no-cache --progress plain "$C" >"$T/r1" 2>/dev/null
ib build -q --no-cache --progress plain "$C" >"$T/r2" 2>/dev/null
unset SOURCE_DATE_EPOCH
t "SOURCE_DATE_EPOCH: two --no-cache builds give the same image id" eval "[ -s $T/r1 ] && cmp $T/r1 $T/r2"

# ---- --target, outputs, iidfile -----------------------------------------------------------------
build tgt --target base -t base-only --iidfile "$T/iid" Dockerfiles/features
t "--target builds only the stages needed" eval "[ $(rc tgt) -eq 0 ] && ! grep -q '\[final' $T/tgt.log"
t "--iidfile holds the image id" eval "[ \"\$(ib inspect base-only | jq -r .[0].Id)\" = \"\$(cat $T/iid)\" ]"
build out1 --output "type=oci,dest=$T/img.oci.tar" -t out:1 Dockerfiles/hello
t "--output type=oci writes an OCI archive" eval "tar -tf $T/img.oci.tar | grep -qx index.json"
build out2 --output "type=docker,dest=$T/img.docker.tar" Dockerfiles/hello
t "--output type=docker writes a docker archive" eval "tar -tf $T/img.docker.tar | grep -qx manifest.json"
build out3 --output "type=local,dest=$T/rootfs" Dockerfiles/hello
t "--output type=local writes the root filesystem" eval "[ -x $T/rootfs/usr/local/bin/hello ] && [ -f $T/rootfs/greeting.txt ] && [ -L $T/rootfs/bin/sh ]"
build out4 --output "type=tar,dest=$T/rootfs.tar" Dockerfiles/hello
t "--output type=tar writes a rootfs tar" eval "tar -tf $T/rootfs.tar | grep -qx 'greeting.txt'"
build out5 -o "$T/rootfs5" Dockerfiles/hello
t "-o PATH is type=local,dest=PATH (as docker build)" eval "[ $(rc out5) -eq 0 ] && [ -f $T/rootfs5/greeting.txt ]"
"$IMGBUILD" build -q -o - Dockerfiles/hello >"$T/stdout.tar" 2>"$T/stdout.err"
t "-o - writes a rootfs tar on stdout" eval "tar -tf $T/stdout.tar | grep -qx 'greeting.txt'"
trailing=$(tail -c 1024 "$T/stdout.tar" | tr -d '\000' | wc -c)
t "... and -q puts the image id on stderr, not into the tar" eval "grep -q '^sha256:' $T/stdout.err && [ $trailing -eq 0 ]"

# ---- limits and errors ----------------------------------------------------------------------------
mkdir -p "$T/lim"
printf 'FROM busybox\nRUN echo start; x=$(head -c 200000000 /dev/zero | tr "\\\\0" a); echo $x | wc -c\n' >"$T/lim/Dockerfile"
build oom --memory 32m "$T/lim"
t "--memory: an OOM-killed RUN fails the build (exit 1)" test "$(rc oom)" -eq 1
t "--memory: the error says out of memory and the limit" grep -q 'killed: out of memory, limit 32 MiB' "$T/oom.log"
printf 'FROM busybox\nRUN for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait\n' >"$T/lim/Dockerfile"
build pids --pids-limit 5 "$T/lim"
t "--pids-limit: a RUN that forks too much fails" eval "[ $(rc pids) -eq 1 ] && grep -qi 'resource temporarily unavailable\|can.t fork' $T/pids.log"
printf 'FROM busybox\nRUN echo one\nRUN echo some output; echo more output >&2; exit 3\n' >"$T/lim/Dockerfile"
ib tag hello:1 keep:1
build fail -t keep:1 "$T/lim"
t "a failing RUN exits 1" test "$(rc fail)" -eq 1
t "the error names FILE:LINE, the command and the exit status" grep -q "Dockerfile:3: RUN failed: '/bin/sh -c echo some output; echo more output >&2; exit 3': exit status 3" "$T/fail.log"
t "the error shows the output tail" grep -q '> more output' "$T/fail.log"
t "a failed build leaves earlier tags alone" eval "[ \"\$(ib inspect keep:1 | jq -r '.[0].Id')\" = \"\$(ib inspect hello:1 | jq -r '.[0].Id')\" ]"
t "the store is consistent after a failed build" ib fsck
printf 'FROM nosuchimage:1\nRUN true\n' >"$T/lim/Dockerfile"
build nobase "$T/lim"
t "a missing base image is a clear error" eval "[ $(rc nobase) -eq 1 ] && grep -q \"image 'nosuchimage:1' not found in the store\" $T/nobase.log"
build usage --no-such-flag "$T/lim"
t "usage errors exit 2" test "$(rc usage)" -eq 2
t "build is the default verb" eval "ib -f Dockerfiles/hello/Dockerfile -q Dockerfiles/hello | grep -q '^sha256:'"
printf 'FROM busybox\nRUN --mount=type=ssh,required=true true\n' >"$T/lim/Dockerfile"
build mount "$T/lim"
t "a required RUN --mount=type=ssh without --ssh is an error naming FILE:LINE:COL" grep -q "Dockerfile:2:1: RUN --mount=type=ssh: no SSH agent or key for id 'default'" "$T/mount.log"
printf 'FROM busybox\nCOPY nothere /x\n' >"$T/lim/Dockerfile"
build nosrc "$T/lim"
t "a missing COPY source is an error" grep -q "'nothere' not found in the build context" "$T/nosrc.log"
printf 'FROM busybox\nCOPY ../etc/passwd /x\n' >"$T/lim/Dockerfile"
build outside "$T/lim"
t "a source outside the context is an error" grep -q "outside the build context" "$T/outside.log"
build json --progress json -q Dockerfiles/hello
t "--progress json: one JSON event per line" eval "ib build --progress json Dockerfiles/hello 2>&1 >/dev/null | jq -e -s 'map(.event) | index(\"cached\") != null' >/dev/null"

# ---- --add-host ---------------------------------------------------------------------
mkdir -p "$T/hosts"
printf 'FROM busybox\nRUN grep reg.local /etc/hosts > /seen && grep v6.local /etc/hosts >> /seen\n' >"$T/hosts/Dockerfile"
build hosts -t hosts --add-host reg.local:10.1.2.3 --add-host "v6.local=[fd00::1]" "$T/hosts"
unpack docker.io/library/hosts:latest hosts
t "--add-host: RUN sees NAME:IP and NAME=[IPv6] in /etc/hosts" eval "[ $(rc hosts) -eq 0 ] && [ \"\$(cat $T/u-hosts/rootfs/seen)\" = \"\$(printf '10.1.2.3\\treg.local\\nfd00::1\\tv6.local')\" ]"
t "--add-host: the step's /etc/hosts does not reach the layer" sh -c "! grep -q reg.local '$T/u-hosts/rootfs/etc/hosts' 2>/dev/null"
build hosts2 -t hosts --add-host reg.local:10.1.2.3 --add-host "v6.local=[fd00::1]" "$T/hosts"
build hosts3 -t hosts --add-host reg.local:10.9.9.9 --add-host "v6.local=[fd00::1]" "$T/hosts"
t "--add-host is part of RUN's cache key (same: cached; changed: runs)" eval "[ \$(cached hosts2) -eq 1 ] && [ \$(cached hosts3) -eq 0 ] && [ $(rc hosts3) -eq 0 ]"
for bad in nocolon:1 "x:1.2.3" "x:host-gateway" ":1.2.3.4" "a b:1.2.3.4"; do
    build badhost --add-host "$bad" "$T/hosts"
    t "--add-host '$bad' is a usage error naming it" eval "[ $(rc badhost) -eq 2 ] && grep -q \"^imgbuild: --add-host '$bad'\" $T/badhost.log"
done

# ---- --ulimit and --shm-size --------------------------------------------------------
mkdir -p "$T/ul"
printf 'FROM busybox\nRUN echo "$(ulimit -n) $(ulimit -Hn) $(df -k /dev/shm | tail -1 | tr -s \047 \047 | cut -d\047 \047 -f2)" > /limits\n' >"$T/ul/Dockerfile"
build ul -t ul --ulimit nofile=1000:2000 --shm-size 128m "$T/ul"
unpack docker.io/library/ul:latest ul
t "--ulimit nofile=1000:2000 and --shm-size 128m reach RUN" eval "[ $(rc ul) -eq 0 ] && [ \"\$(cat $T/u-ul/rootfs/limits)\" = '1000 2000 131072' ]"
build ul2 -t ul "$T/ul"
unpack docker.io/library/ul:latest ul2
t "... and are in RUN's key: without them the step runs again (/dev/shm 64 MiB)" eval "[ \$(cached ul2) -eq 0 ] && [ \"\$(cut -d' ' -f3 $T/u-ul2/rootfs/limits)\" = 65536 ]"
build ul3 -t ul --ulimit nofile=1000:2000 --shm-size 128m "$T/ul"
t "... the same ones again: cached" test "$(cached ul3)" -eq 1
for bad in "--ulimit bogus=1" "--ulimit nofile" "--shm-size 12x" "--shm-size 100"; do
    # shellcheck disable=SC2086 # $bad is an option and its value
    build badul $bad "$T/ul"
    t "'$bad' is a usage error" eval "[ $(rc badul) -eq 2 ] && grep -q '^imgbuild: --' $T/badul.log"
done

# ---- --no-cache-filter ---------------------------------------------------------------
mkdir -p "$T/ncf"
printf 'FROM busybox AS one\nRUN echo one > /one\nFROM busybox AS two\nRUN echo two > /two\nFROM busybox\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n' >"$T/ncf/Dockerfile"
build ncf1 "$T/ncf"
build ncf2 --no-cache-filter two "$T/ncf"
# step_cached LOG TEXT: the step whose header line has TEXT was CACHED (by its #N)
step_cached() {
    _step=$(grep -F "$2" "$T/$1.log" | head -n1 | cut -d' ' -f1)
    [ -n "$_step" ] && grep -qx "$_step CACHED" "$T/$1.log"
}
# (COPY --from=two may miss or hit: its key holds stage two's new layer, whose file mtimes
# are the RUN's second)
t "--no-cache-filter two: only stage two's step (and what follows from it) runs" eval "[ $(rc ncf2) -eq 0 ] && step_cached ncf2 'RUN echo one > /one' && step_cached ncf2 'COPY --from=one' && grep -q 'RUN echo two > /two' $T/ncf2.log && ! step_cached ncf2 'RUN echo two > /two'"
build ncf3 --no-cache-filter ONE,two --explain-cache "$T/ncf"
t "--no-cache-filter ONE,two (names case-insensitive): both RUNs run, said by --explain-cache" eval "[ \$(grep -c 'cache miss: --no-cache-filter names this stage' $T/ncf3.log) -eq 2 ]"

# ---- --metadata-file ----------------------------------------------------------------
build meta --metadata-file "$T/meta.json" --iidfile "$T/meta.iid" -t meta:1 -t localhost:5000/x/y:2 Dockerfiles/hello
t "--metadata-file: buildx's keys, the id as --iidfile, the manifest digest as inspect" eval "[ $(rc meta) -eq 0 ] && jq -e --arg id \"\$(cat $T/meta.iid)\" --arg d \"\$(ib inspect meta:1 | jq -r '.[0].Digest')\" '.[\"containerimage.config.digest\"] == \$id and .[\"containerimage.digest\"] == \$d and .[\"image.name\"] == \"docker.io/library/meta:1,localhost:5000/x/y:2\"' $T/meta.json >/dev/null"

done_testing
