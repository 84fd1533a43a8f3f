#!/bin/sh
if [ -n "${GREETING_FILE:-}" ] && [ -f "$GREETING_FILE" ]; then
    cat "$GREETING_FILE"
else
    echo "Hello from imgbuild ($(uname -s) $(uname -m))"
fi
