# testdata/registry/helpers.sh: loopback registries and servers for e2e tests (sourced
# after testdata/e2e/lib.sh, which sets $T).
#   free_port                         prints a free loopback port
#   wait_port PORT                    waits until something listens there
#   start_registry NAME PORT [HTTP_YAML] [AUTH_YAML]
#                                     docker-registry with data in $T/NAME-data, the
#                                     access log (one line per request) in $T/NAME.log;
#                                     its pid goes to $REG_PID and to $pids
#   stop_pid PID                      kill and reap
# The caller's EXIT trap should kill $pids.
PY=/usr/bin/python3 # Debian's own python3 (its modules: jwt, cryptography)
pids=""
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    i=0
    while [ $i -lt 100 ]; do
        $PY -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "# nothing listens on port $1"
    return 1
}
start_registry() {
    cat >"$T/$1.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $T/$1-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
${3:-}
${4:-}
EOF
    docker-registry serve "$T/$1.yml" >>"$T/$1.log" 2>&1 &
    REG_PID=$!
    pids="$pids $REG_PID"
    wait_port "$2"
}
stop_pid() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}
