# SPDX-License-Identifier: BSD-3-Clause
# zerofs tests in a tree configured with --enable-sanitizers: sourced by
# functions.sh when "make check" passes ZEROFS_SANITIZERS=yes.
#
# The library, the plugin, zerofs-dev, zerofs and the unit tests are
# built with ASan and UBSan.  The executables carry their runtimes; the
# plugin is loaded by nbdkit, which is not built with ASan, and ASan
# insists on being the first library of a process.  So every nbdkit is
# started with the ASan runtime (the one the plugin links) in
# LD_PRELOAD, and no other program is: the command of "nbdkit --run" is
# started without it, so that nbdsh (Python, whose own leaks are none of
# our business), nbdinfo, qemu-img ... run as they always do.
#
#   sanitizer_env    the env(1) prefix that starts a process (nbdkit,
#                    or the zerofs wrapper, whose nbdkit inherits it)
#                    with the runtime preloaded
#   sanitize_run CMD the command of nbdkit --run CMD, made to start
#                    without the preload
#   sanitizer_check  called when the test ends (functions.sh): prints
#                    the reports of those processes, fails if one is
#                    ours
#
# Executables of ours (zerofs-dev, the unit tests) report on stderr and
# exit with status 1 (ASan, and UBSan: built with -fno-sanitize-recover).
# Processes started with sanitizer_env write their reports to files in
# $sanitizer_logs instead, and exit with status 0 after one: nbdkit
# itself leaks one block of 280 bytes at exit (its, not ours: nbdkit's
# null plugin shows it too; valgrind.supp says the same), and LSan
# cannot be told to ignore just that one: its stack is nbdkit's, without
# symbols, and every stack through the plugin has nbdkit's frames too,
# so a suppression would hide ours.  And the programs the zerofs
# wrapper starts (nbd-client, a stand-in in bash, Python) inherit the
# preload and have leaks of their own.  sanitizer_check judges the
# reports instead: any UBSan error fails the test (only our code is
# built with UBSan), and a leak or an ASan error does if one of the
# frames of its stacks (the access's, the allocation's, the free's) is
# in our code.  Our code keeps its frame pointers, so a fault of ours
# always shows one.  The ASan runtime also sees faults of nbdkit and
# the libraries it loads: nbdkit 1.32 with TLS, when a client drops its
# connection without shutting TLS down, has had one worker thread free
# a GnuTLS record buffer that another was still sending, with no frame
# of ours in any of the three stacks.  This works whether the server
# ran in the foreground or, as with "nbdkit --run", in the background
# where no one sees its exit status.

if [ -n "${ZEROFS_TEST_VALGRIND:-}" ]; then
    echo "$0: valgrind cannot run sanitized code: use a tree configured" \
         "without --enable-sanitizers for make check-valgrind"
    exit 1
fi
asan_runtime=$(ldd "$PLUGIN" | awk '$1 ~ /^libasan\.so/ { print $3 }')
if [ ! -f "$asan_runtime" ]; then
    echo "$0: $PLUGIN does not link the ASan runtime (see ldd): was it" \
         "built with --enable-sanitizers?"
    exit 1
fi
# Only processes that have the runtimes read these.
export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
sanitizer_logs=$(mktemp -d "${TMPDIR:-/tmp}/zerofs-sanitizers.XXXXXX")
sanitizer_bin=$sanitizer_logs.bin
mkdir -p "$sanitizer_bin"

# A process linking p11-kit (nbdkit through gnutls, curl) under the
# ASan preload (gcc 12's runtime, glibc 2.36) finds glibc's setlocale
# lock in a state that never lets a writer in: curl hangs in its first
# setlocale, nbdkit (which calls none) in exit(), where p11-kit's
# destructor calls freelocale.  The uninstrumented plugin under the
# same preload does it too: it is not ours.  A freelocale that does
# nothing, preloaded after the runtime, lets nbdkit end (the locale is
# freed with the process).  Programs that nbdkit starts inherit the
# preload: a test's credential_process script, which runs curl, drops
# it.
printf '#include <locale.h>\nvoid freelocale (locale_t l) { (void) l; }\n' \
       > "$sanitizer_bin/nofreelocale.c"
${CC:-cc} -shared -fPIC -o "$sanitizer_bin/nofreelocale.so" \
    "$sanitizer_bin/nofreelocale.c" || {
    echo "$0: cannot build the freelocale shim (needs a C compiler)"; exit 1; }
sanitizer_env=(env LD_PRELOAD="$asan_runtime:$sanitizer_bin/nofreelocale.so"
               ASAN_OPTIONS="$ASAN_OPTIONS:exitcode=0:log_path=$sanitizer_logs/asan"
               UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$sanitizer_logs/ubsan")

# A shim "nbdkit" first on the PATH, so that every way of starting it
# (functions.sh, "timeout 60 nbdkit", setsid in scripts/demo.sh, the
# zerofs wrapper) gets the runtime, and its --run command does not.
sanitize_run ()
{
    # Single-quoted for nbdkit's /bin/sh, which then execs the command's
    # own shell without the preload (and so without ASan's exit checks:
    # exec ends no process).  nbdkit's variables are shell variables of
    # the first shell: exported for the second.
    local q=\'
    printf "export uri nbd port unixsocket exportname tls; "
    printf "exec env -u LD_PRELOAD sh -c '%s'" "${1//$q/$q\\$q$q}"
}

cat > "$sanitizer_bin/nbdkit" <<SHIM
#!/bin/bash
# nbdkit with the ASan runtime preloaded (tests/sanitizers.sh).
$(declare -f sanitize_run)
args=()
while [ \$# -gt 0 ]; do
    case "\$1" in
        --run) args+=(--run "\$(sanitize_run "\$2")"); shift 2 ;;
        *) args+=("\$1"); shift ;;
    esac
done
exec $(printf '%q ' "${sanitizer_env[@]}") $(printf '%q' "$(type -P nbdkit)") "\${args[@]}"
SHIM
chmod +x "$sanitizer_bin/nbdkit"
export PATH=$sanitizer_bin:$PATH

sanitizer_check ()
{
    local f status=0
    for f in "$sanitizer_logs"/*; do
        [ -e "$f" ] || continue
        echo "$0: sanitizer report $f:"
        cat "$f"
        # Blocks end with a blank line; a leak is ours if one of its
        # frames is in our code: our programs or the plugin (when not
        # symbolized), a source file of this tree (when symbolized).
        if ! awk -v src="${top_srcdir:-$srcdir/..}" -v build="${top_builddir:-}" '
            function ours_frame(line) {
                return index(line, src "/") || (build != "" && index(line, build "/")) ||
                       line ~ /nbdkit-zerofs-plugin|zerofs-dev|\/tools\/zerofs|libzerofs/
            }
            function close_block() {
                if (block != "" && mine) ours = 1
                block = ""; mine = 0
            }
            # A leak ends with a blank line; an ASan error (several
            # stacks) with its SUMMARY line.
            /^(Direct|Indirect) leak / { close_block(); block = "leak"; next }
            /ERROR: AddressSanitizer/ { close_block(); block = "error"; next }
            block != "" && /^ *#[0-9]+ / { if (ours_frame($0)) mine = 1; next }
            (block == "leak" && /^$/) ||
            (block == "error" && /^SUMMARY: AddressSanitizer/) {
                close_block(); next
            }
            /runtime error|ERROR: UndefinedBehavior/ { ours = 1 }
            END { close_block(); exit ours }
        ' "$f"; then
            echo "$0: FAIL: the report above is zerofs's"
            status=1
        fi
    done
    rm -rf "$sanitizer_logs" "$sanitizer_bin"
    return $status
}
