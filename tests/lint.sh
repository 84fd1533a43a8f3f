#!/bin/sh
# make lint: module include rules and clang-format.
# Allowed includes: cli -> builder, registry, store, parser; builder -> parser, store, registry;
# registry -> store; all -> common.  Third-party headers stay in one place each.
set -u
rc=0
bad() { echo "lint: $*"; rc=1; }
for dir in common parser store registry builder cli; do
    case $dir in
    common) allowed="common" ;;
    parser) allowed="common parser" ;;
    store) allowed="common store" ;;
    registry) allowed="common store registry" ;;
    builder) allowed="common parser store registry builder" ;;
    cli) allowed="common parser store registry builder cli" ;;
    esac
    for f in $(find "$dir" -name '*.[ch]' -not -path '*/tests/*' 2>/dev/null); do
        grep -o '^#include "[a-z]*/' "$f" | sed -e 's/#include "//' -e 's|/$||' | sort -u |
        while read -r inc; do
            case " $allowed " in *" $inc "*) ;; *) echo "lint: $f includes $inc/ (not allowed from $dir/)"; echo x >>"$0.fail.$$" ;; esac
        done
        # other modules only through their one public header
        grep -o '^#include "[a-z]*/[a-z_]*\.h"' "$f" | sed -e 's/#include "//' -e 's/"$//' |
        while read -r h; do
            m=${h%%/*}
            [ "$m" = "$dir" ] || [ "$m" = common ] || [ "$h" = "$m/$m.h" ] ||
                { echo "lint: $f includes $h (use $m/$m.h)"; echo x >>"$0.fail.$$"; }
        done
    done
done
if [ -e "$0.fail.$$" ]; then rm -f "$0.fail.$$"; rc=1; fi
check_lib() { # header dirs...
    h=$1; shift
    for f in $(grep -rl "#include <$h" --include='*.[ch]' common parser store registry builder cli 2>/dev/null); do
        ok=0
        for d in "$@"; do case $f in $d*|*/tests/*) ok=1 ;; esac; done
        [ $ok -eq 1 ] || bad "$f includes <$h> (allowed only in: $*)"
    done
}
check_lib archive store/
check_lib curl/ registry/
check_lib jansson store/ registry/
check_lib openssl/ store/digest.c registry/
if command -v clang-format >/dev/null; then
    for f in $(git ls-files '*.c' '*.h'); do
        clang-format "$f" | cmp -s - "$f" || bad "$f is not clang-formatted (clang-format -i $f)"
    done
fi
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
