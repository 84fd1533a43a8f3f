# testdata/registry/faults.sh: sourced by testdata/e2e/50-registry.sh (uses its
# helpers): the client against testdata/registry/fault_server.py.
PF=$(free_port)
PF2=$(free_port)
mkdir -p "$T/flay" && tar -C "$T/flay" -xf "$T/bb-oci.tar"
$PY "$here/testdata/registry/fault_server.py" "$PF" "$PF2" "$T/flay" "$T/fault.log" u:pw \
    2>"$T/fault.err" &
pids="$pids $!"
wait_port "$PF" && wait_port "$PF2"
RF=127.0.0.1:$PF
fm=$(jq -r '.manifests[0].digest' "$T/flay/index.json")
fpull() { # STORE REPO [opts]: pull from the fault server with its credentials
    st=$1 repo=$2
    shift 2
    IMGBUILD_ROOT="$T/$st" "$IMGBUILD" pull --creds u:pw --timeout 1 "$@" "$RF/$repo:1"
}
t "fault server, well behaved: pull works" fpull f1 ok/img
t_fail "without credentials: unauthorized" sh -c "IMGBUILD_ROOT=$T/f1x '$IMGBUILD' pull $RF/ok/img:1"
: >"$T/fault.log"
keep fpull f1 ok/img
t "second pull of the same tag: only a HEAD for the manifest" sh -c "grep -q 'HEAD /v2/ok/img/manifests/1' '$T/fault.log' && ! grep -q 'GET /v2/ok/img/manifests' '$T/fault.log' && grep -q '$fm' '$K'"
keep fpull f2 wrongdigest/img
t "wrong blob digest fails, naming reference and layer" grep -q "$RF/wrongdigest/img:1: layer 'sha256:.*': digest mismatch" "$K"
t "... and nothing is tagged" sh -c "IMGBUILD_ROOT=$T/f2 '$IMGBUILD' images -q | grep -c . | grep -qx 0"
keep fpull f3 truncate/img
t "a blob that is always truncated fails" grep -q "$RF" "$K"
t "... naming the transfer error" grep -Eq 'transfer closed|partial|digest mismatch' "$K"
t "... and nothing is tagged" sh -c "IMGBUILD_ROOT=$T/f3 '$IMGBUILD' images -q | grep -c . | grep -qx 0"
t "a blob truncated once is resumed with Range" fpull f4 resume/img
t "500 then 200: retried" fpull f5 flaky/img
s0=$(date +%s.%N)
t "429 with Retry-After: retried" fpull f6 ratelimit/img
t "... after waiting at least Retry-After" $PY -c "import sys,time; sys.exit(0 if time.time() - $s0 >= 1.0 else 1)"
: >"$T/fault.log"
t "blob redirected to another port" fpull f7 redirect/img
t "... and no Authorization went there" sh -c "grep -q '^$PF2 GET /blobs/' '$T/fault.log' && ! grep '^$PF2 ' '$T/fault.log' | grep -q 'auth=yes' && grep '^$PF ' '$T/fault.log' | grep -q 'auth=yes'"
s0=$(date +%s)
keep fpull f8 stall/img
t "a stalled blob times out" grep -Eq 'too slow|timed out|Timeout' "$K"
t "... within 20 s" test $(($(date +%s) - s0)) -le 20
