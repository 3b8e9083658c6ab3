#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The S3 credentials chain and the refresh of temporary credentials, run
# through test-s3-creds-s3rver.sh and test-s3-creds-swift.sh.
#
# creds-server.py stands in for the services that cannot run here (STS,
# the container endpoint, the EC2 metadata service) and hands out the S3
# server's own key pair with a fresh session token each time, living a
# few seconds.  Neither s3rver nor Swift knows session tokens (Swift's
# s3api verifies the signature, x-amz-security-token included as a
# signed header, and ignores the token's value), so the stand-in's
# forwarder, which every request to S3 goes through here, refuses a
# token it did not issue (InvalidToken) or that has expired
# (ExpiredToken) as S3 would.  What breaks without the code under test:
# a provider not tried, or tried out of order; a role's credential_source
# not used to sign its AssumeRole (the stand-in checks who signed); an
# SSO profile's cached token not sent to the portal, or sent expired; credentials never
# refreshed (the long write fails at the first expiry); ExpiredToken not
# answered with a refresh and one retry; the IMDS session token kept
# past its TTL (the stand-in answers 401); a provider down at start
# without a clear error, or down later taking the device down while the
# old credentials are still good.
set -e
source "${srcdir:-.}/functions.sh"
requires nbdinfo --version
requires nbdsh --version
requires curl --version
case "$ZEROFS_TEST_BACKEND" in
    s3rver|swift) ;;
    *) echo "$0: run me through test-s3-creds-{s3rver,swift}.sh"; exit 1 ;;
esac

start_volume
zdev create disk 4M
ak=$AWS_ACCESS_KEY_ID
sk=$AWS_SECRET_ACCESS_KEY
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export HOME=$tmpdir/home
mkdir -p "$HOME/.aws"
unset AWS_EC2_METADATA_DISABLED
cs=$tmpdir/cs
log=$cs/creds.log
mkdir -p "$cs"
echo "web-identity-token-$$" > "$cs/web-token"
echo "container-auth-$$" > "$cs/container-auth"
echo "sso-token-$$" > "$cs/sso-token"

cs_pid=
# Start the stand-in: LIFETIME TOKEN_TTL [LIE] (see creds-server.py).
start_creds ()
{
    local i
    stop_creds
    rm -f "$cs"/*.port "$cs/down" "$log"
    /usr/bin/python3 "$srcdir/creds-server.py" "$cs" "$S3_ENDPOINT" \
                     "$ak" "$sk" "$@" &
    cs_pid=$!
    for (( i = 0; i < 100; i++ )); do
        [ -s "$cs/creds.port" ] && [ -s "$cs/s3.port" ] && break
        sleep 0.1
    done
    creds=http://127.0.0.1:$(cat "$cs/creds.port")
    s3ep=http://127.0.0.1:$(cat "$cs/s3.port")
}
stop_creds ()
{
    if [ -n "$cs_pid" ]; then kill "$cs_pid"; wait "$cs_pid" || :; fi
    cs_pid=
}
cleanup_fn stop_creds

# Only the variables of the provider under test.
clear_env ()
{
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
          AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN AWS_ROLE_SESSION_NAME \
          AWS_ENDPOINT_URL_STS AWS_PROFILE AWS_CONFIG_FILE \
          AWS_SHARED_CREDENTIALS_FILE \
          AWS_CONTAINER_CREDENTIALS_FULL_URI \
          AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
          AWS_CONTAINER_AUTHORIZATION_TOKEN \
          AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_ENDPOINT_URL_SSO
    rm -rf "$HOME/.aws/credentials" "$HOME/.aws/config" "$HOME/.aws/sso"
    export AWS_EC2_METADATA_DISABLED=true
}
web_identity_env ()
{
    export AWS_WEB_IDENTITY_TOKEN_FILE=$cs/web-token
    export AWS_ROLE_ARN=arn:aws:iam::123456789012:role/zerofs-test
    export AWS_ENDPOINT_URL_STS=$creds
}
container_env ()
{
    export AWS_CONTAINER_CREDENTIALS_FULL_URI=$creds/container/creds
    export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$cs/container-auth
}
imds_env ()
{
    unset AWS_EC2_METADATA_DISABLED
    export AWS_EC2_METADATA_SERVICE_ENDPOINT=$creds
}

# Serve through ENDPOINT with -D zerofs.s3=1, print the device size;
# the log goes to $tmpdir/out.
size_via ()
{
    local endpoint=$1; shift
    rm -rf "$tmpdir/c"
    timeout 60 nbdkit -v -D zerofs.s3=1 -U - "$PLUGIN" bucket="$bucket" \
            password=+"$pwfile" endpoint="$endpoint" region=us-east-1 \
            export=disk cache-dir="$tmpdir/c" "$@" \
            --run 'nbdinfo --size "$uri"' > "$tmpdir/out" 2>&1 ||
        { cat "$tmpdir/out"; return 1; }
    nbdinfo_size=$(tail -n 1 "$tmpdir/out")
}
# size_via, which must fail (a bare "! size_via" would assert nothing:
# set -e ignores a "!" pipeline).
size_fails ()
{
    if size_via "$@"; then
        echo "$0: expected the server to fail (size_via $*)"; exit 1
    fi
}
# The credentials came from $1 (a pattern of the debug line).
came_from ()
{
    if ! grep -q "s3: credentials from $1" "$tmpdir/out"; then
        grep "credentials" "$tmpdir/out" || :
        echo "$0: expected credentials from \"$1\""
        exit 1
    fi
    echo "ok: credentials from $1"
}
issued () { grep -c "^issue $1 " "$log" || :; }

start_creds 900 21600

# --- Each provider in the chain's order: the earlier one wins. ---

# 1. The options, over the environment (whose key the store refuses).
clear_env
export AWS_ACCESS_KEY_ID=bogus AWS_SECRET_ACCESS_KEY=bogus
size_via "$S3_ENDPOINT" access-key="$ak" secret-key="$sk"
came_from "the access-key and secret-key options"

# 2. The environment, over web identity.
clear_env
export AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk
web_identity_env
size_via "$S3_ENDPOINT"
came_from "the environment"
test "$(issued web-identity)" = 0

# 3. Web identity, over the shared files (whose process would fail).
clear_env
web_identity_env
printf '[default]\ncredential_process = false\n' > "$HOME/.aws/config"
size_via "$s3ep"
came_from "role arn:aws:iam::123456789012:role/zerofs-test by web identity"
test "$(issued web-identity)" = 1

# 4a. The shared files: role_arn + source_profile (STS AssumeRole,
# signed with the source profile's keys and checked by the stand-in),
# over the container endpoint.
clear_env
container_env
export AWS_ENDPOINT_URL_STS=$creds AWS_PROFILE=work
cat > "$HOME/.aws/credentials" <<EOF
[base]
aws_access_key_id = SOURCEKEY
aws_secret_access_key = source-secret
EOF
cat > "$HOME/.aws/config" <<EOF
[profile work]
role_arn = arn:aws:iam::123456789012:role/zerofs-work
source_profile = base
role_session_name = zerofs-test
EOF
size_via "$s3ep"
came_from "role arn:aws:iam::123456789012:role/zerofs-work (source_profile \"base\")"
test "$(issued assume-role)" = 1
test "$(issued container)" = 0

# 4b. credential_process (here: asks the container endpoint and
# rewrites the answer as Version 1), over the container endpoint itself.
cat > "$tmpdir/cred-process" <<EOF
#!/bin/sh
# Under --enable-sanitizers nbdkit's ASan preload is inherited, and curl
# (p11-kit) hangs under it in setlocale: see tests/sanitizers.sh.
unset LD_PRELOAD
curl -sf -H "Authorization: \$(cat '$cs/container-auth')" \
     '$creds/container/creds' |
/usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(json.dumps({"Version": 1, "AccessKeyId": d["AccessKeyId"], "SecretAccessKey": d["SecretAccessKey"], "SessionToken": d["Token"], "Expiration": d["Expiration"]}))'
EOF
chmod +x "$tmpdir/cred-process"
printf '[profile work]\ncredential_process = "%s" --unused-arg\n' \
       "$tmpdir/cred-process" > "$HOME/.aws/config"
rm "$HOME/.aws/credentials"
size_via "$s3ep"
came_from "credential_process of profile \"work\""

# 4c. role_arn + credential_source: AssumeRole signed with the
# credentials of the provider it names.  The stand-in checks the
# signature and logs whose credentials made it ("assume-role by"
# SOURCEKEY, or the issuer of the signing session token); every S3
# request must then carry a token that AssumeRole issued, not the
# source's own.
# All S3 requests since start_creds carried tokens that $1 issued.
s3_by ()
{
    grep -q '^s3 ok ' "$log"
    if grep '^s3 ' "$log" | grep -v "^s3 ok .* $1\$"; then
        echo "$0: S3 requests above not signed with credentials from $1"
        exit 1
    fi
}
role_config ()
{
    printf '[profile work]\nrole_arn = %s\ncredential_source = %s\n' \
           arn:aws:iam::123456789012:role/zerofs-work "$1" \
           > "$HOME/.aws/config"
}
for src in Ec2InstanceMetadata EcsContainer Environment; do
    clear_env
    start_creds 900 21600
    export AWS_ENDPOINT_URL_STS=$creds
    role_config $src
    case $src in
        Ec2InstanceMetadata)
            imds_env
            export AWS_PROFILE=work
            size_via "$s3ep"
            from="the EC2 instance metadata service at $creds"
            by=imds ;;
        EcsContainer)
            container_env
            export AWS_PROFILE=work
            size_via "$s3ep"
            from="the container endpoint $creds/container/creds (AWS_CONTAINER_CREDENTIALS_FULL_URI)"
            by=container ;;
        Environment)
            # The environment's keys are the source's, which S3 refuses:
            # with profile= the chain goes straight to the profile.
            export AWS_ACCESS_KEY_ID=SOURCEKEY \
                   AWS_SECRET_ACCESS_KEY=source-secret
            size_via "$s3ep" profile=work
            from="the environment (AWS_ACCESS_KEY_ID)"
            by=SOURCEKEY ;;
    esac
    came_from "role arn:aws:iam::123456789012:role/zerofs-work (credential_source $src: $from) of profile \"work\""
    test "$(grep -c "^assume-role by $by\$" "$log")" = 1
    test "$(grep -c '^assume-role by' "$log")" = 1
    s3_by assume-role
done

# A chain: profile work's source_profile "mid" assumes its role with the
# container's credentials, and work's role is assumed with mid's.
# Profile work's role with source_profile mid, whose role has the line $1.
chain_config ()
{
    cat > "$HOME/.aws/config" <<EOF
[profile work]
role_arn = arn:aws:iam::123456789012:role/zerofs-work
source_profile = mid
[profile mid]
role_arn = arn:aws:iam::123456789012:role/zerofs-mid
$1
EOF
}
clear_env
start_creds 900 21600
container_env
export AWS_ENDPOINT_URL_STS=$creds AWS_PROFILE=work
chain_config "credential_source = EcsContainer"
size_via "$s3ep"
came_from "role arn:aws:iam::123456789012:role/zerofs-work (source_profile \"mid\")"
test "$(grep '^assume-role by' "$log" | tr '\n' ' ')" = \
     "assume-role by container assume-role by assume-role "
s3_by assume-role

# Mistakes, each named as the SDKs name them.
clear_env
export AWS_ENDPOINT_URL_STS=$creds AWS_PROFILE=work
cat > "$HOME/.aws/config" <<EOF
[profile work]
role_arn = arn:aws:iam::123456789012:role/zerofs-work
source_profile = mid
credential_source = Environment
EOF
size_fails "$s3ep"
server_error "profile \"work\" in .*: role_arn with both source_profile and credential_source" "$tmpdir/out"
role_config Ec2Metadata
size_fails "$s3ep"
server_error "credential_source = Ec2Metadata is not one of Environment, Ec2InstanceMetadata, EcsContainer" "$tmpdir/out"
role_config EcsContainer
size_fails "$s3ep"
server_error "credential_source = EcsContainer, but neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set" "$tmpdir/out"
role_config Ec2InstanceMetadata
size_fails "$s3ep"
server_error "credential_source = Ec2InstanceMetadata, but AWS_EC2_METADATA_DISABLED=true" "$tmpdir/out"
# A loop of source_profiles ends at the chain's bound.
chain_config "source_profile = work"
size_fails "$s3ep"
server_error "source_profile chain is longer than 4 profiles" "$tmpdir/out"

# 4d. SSO (IAM Identity Center): the token that "aws sso login" cached
# in ~/.aws/sso/cache/SHA1.json, sent to the portal's GetRoleCredentials
# (the stand-in checks it, the account and the role).
# Cache the token $3 (default: the one the stand-in wants) under the key
# $1 (the session name or the start URL), expiring in $2 seconds.
sso_cache ()
{
    local key f
    key=$(printf %s "$1" | sha1sum | cut -d' ' -f1)
    f=$HOME/.aws/sso/cache/$key.json
    mkdir -p "$HOME/.aws/sso/cache"
    printf '{"startUrl": "https://example.awsapps.com/start", "region": "eu-west-1", "accessToken": "%s", "expiresAt": "%s", "clientId": "x"}\n' \
           "${3:-$(cat "$cs/sso-token")}" \
           "$(date -u -d "@$(( $(date +%s) + $2 ))" +%Y-%m-%dT%H:%M:%SZ)" \
           > "$f"
}
# Profile work of session corp, with the lines $1.
sso_config ()
{
    cat > "$HOME/.aws/config" <<EOF
[profile work]
sso_session = corp
sso_account_id = 111122223333
$1
[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access
EOF
}
clear_env
start_creds 900 21600
export AWS_ENDPOINT_URL_SSO=$creds AWS_PROFILE=work
sso_config "sso_role_name = zerofs-role"
sso_cache corp 3600
size_via "$s3ep"
came_from "SSO role zerofs-role of account 111122223333 (start URL https://example.awsapps.com/start) of profile \"work\""
test "$(grep -c '^sso 111122223333 zerofs-role$' "$log")" = 1
s3_by sso

# Without sso_session: the token is cached under the start URL.
rm -r "$HOME/.aws/sso"
cat > "$HOME/.aws/config" <<EOF
[profile work]
sso_start_url = https://legacy.awsapps.com/start
sso_region = eu-west-1
sso_account_id = 111122223333
sso_role_name = zerofs-role
EOF
sso_cache https://legacy.awsapps.com/start 3600
size_via "$s3ep"
came_from "SSO role zerofs-role of account 111122223333 (start URL https://legacy.awsapps.com/start)"
s3_by sso

# A role assumed with the SSO role's credentials (source_profile).
start_creds 900 21600
export AWS_ENDPOINT_URL_SSO=$creds AWS_ENDPOINT_URL_STS=$creds
cat > "$HOME/.aws/config" <<EOF
[profile work]
role_arn = arn:aws:iam::123456789012:role/zerofs-work
source_profile = sso
[profile sso]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = zerofs-role
[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-west-1
EOF
sso_cache corp 3600
size_via "$s3ep"
came_from "role arn:aws:iam::123456789012:role/zerofs-work (source_profile \"sso\")"
test "$(grep -c '^assume-role by sso$' "$log")" = 1
s3_by assume-role

# The cached token expired, missing, or refused by the portal; settings
# missing or contradicting the session: errors saying what to do.
sso_config "sso_role_name = zerofs-role"
sso_cache corp -60
size_fails "$s3ep"
server_error "the SSO token cached in $HOME/.aws/sso/cache/[0-9a-f]*\.json expired at .*: run aws sso login --sso-session corp" "$tmpdir/out"
rm -r "$HOME/.aws/sso"
size_fails "$s3ep"
server_error "no SSO token cached: run aws sso login --sso-session corp" "$tmpdir/out"
sso_cache corp 3600 not-the-token
size_fails "$s3ep"
server_error "HTTP 401: the SSO portal refused the cached token (run aws sso login --sso-session corp)" "$tmpdir/out"
sso_cache corp 3600
sso_config "sso_role_name = other-role"
size_fails "$s3ep"
server_error "federation/credentials?account_id=111122223333&role_name=other-role: HTTP 403: the SSO portal refused the role" "$tmpdir/out"
sed -i 's/^sso_account_id = .*/sso_account_id = 999999999999/' "$HOME/.aws/config"
size_fails "$s3ep"
server_error "federation/credentials?.*: malformed JSON at byte 0: expected an object" "$tmpdir/out"
sso_config ""
size_fails "$s3ep"
server_error "configured for SSO (sso_session corp), but without sso_role_name" "$tmpdir/out"
sso_config "sso_role_name = zerofs-role
sso_region = us-west-2"
size_fails "$s3ep"
server_error "sso_region = us-west-2 differs from the sso_region of \[sso-session corp\], eu-west-1" "$tmpdir/out"

# 5. The container endpoint, over the EC2 metadata service.
clear_env
container_env
imds_env
n=$(issued container)
size_via "$s3ep"
came_from "the container endpoint $creds/container/creds"
test "$(issued container)" = $((n + 1))
test "$(issued imds)" = 0
# Without the right Authorization it is refused, and says so.
echo wrong > "$tmpdir/wrong-auth"
export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$tmpdir/wrong-auth
size_fails "$s3ep"
server_error "container endpoint.*HTTP 403" "$tmpdir/out"

# 6. The EC2 metadata service, last.
clear_env
imds_env
size_via "$s3ep"
came_from "the EC2 instance metadata service at $creds"
test "$(issued imds)" = 1

# --- A provider down at start: a clear error naming it. ---
clear_env
web_identity_env
touch "$cs/down"
size_fails "$s3ep"
server_error "cannot get S3 credentials: role .* by web identity.*STS AssumeRoleWithWebIdentity.*HTTP 503" "$tmpdir/out"
clear_env
imds_env
size_fails "$s3ep"
server_error "no S3 credentials found.*EC2 instance metadata service at $creds.*failed.*HTTP 503" "$tmpdir/out"
rm "$cs/down"

# --- Long writes while the credentials expire. ---
# nbdsh: write and flush 1 MiB blocks for $1 seconds, then check them
# all; with $2 = "down-later", make the provider fail after the first
# write, check that writes go on while the old credentials are valid,
# then that they come back once the provider does.
cat > "$tmpdir/writer.py" <<'EOF'
import os, sys, time
seconds = float(os.environ["WRITE_SECONDS"])
mode = os.environ.get("WRITE_MODE", "")
down = os.path.join(os.environ["cs"], "down")
blocks = {}
start = time.monotonic()
i = 0
while time.monotonic() - start < seconds:
    data = os.urandom(1 << 20)
    off = (i % 4) << 20
    h.pwrite(data, off)
    h.flush()
    blocks[off] = data
    i += 1
    if mode == "down-later" and i == 1:
        open(down, "w").close()
    time.sleep(0.5)
for off, data in blocks.items():
    assert h.pread(1 << 20, off) == data, off
print("writes:", i)
EOF
export cs
write_for ()
{
    local endpoint=$1 seconds=$2; shift 2
    rm -rf "$tmpdir/c"
    WRITE_SECONDS=$seconds timeout 300 \
        nbdkit -v -D zerofs.s3=1 -U - "$PLUGIN" bucket="$bucket" \
            password=+"$pwfile" endpoint="$endpoint" region=us-east-1 \
            export=disk cache-dir="$tmpdir/c" "$@" \
            --run 'nbdsh -u "$uri" -c "exec(open(\"$tmpdir/writer.py\").read())"' \
            > "$tmpdir/out" 2>&1 || { cat "$tmpdir/out"; return 1; }
    grep "^writes:" "$tmpdir/out"
}

# Credentials living 8 s (refreshed 4 s before): a 20 s write goes on
# through several refreshes, nothing is refused, nothing is lost.
clear_env
start_creds 8 21600
web_identity_env
write_for "$s3ep" 20
grep -q "s3: credentials refreshed (due) from role" "$tmpdir/out"
test "$(issued web-identity)" -ge 3
test "$(grep -c '^s3 \(expired\|unknown\)' "$log")" = 0

# The stand-in announces a later expiry than it enforces: S3 answers
# ExpiredToken, and the request is sent again with new credentials.
start_creds 5 21600 1000
web_identity_env
write_for "$s3ep" 12
grep -q "refused (ExpiredToken, HTTP 400): sending it again" "$tmpdir/out"
grep -q "s3: credentials refreshed (ExpiredToken)" "$tmpdir/out"
test "$(grep -c '^s3 expired' "$log")" -ge 1

# IMDSv2: session tokens live 4 s (the stand-in caps the TTL it is asked
# for and says so in its answer), credentials 6 s: new tokens are fetched
# as they lapse, and never used after (the stand-in would answer 401).
clear_env
start_creds 6 4
imds_env
write_for "$s3ep" 14
test "$(grep -c '^imds-token ' "$log")" -ge 2
test "$(grep -c '^imds-401' "$log")" = 0
test "$(issued imds)" -ge 2
grep -q "s3: IMDS session tokens fetched so far: [2-9]" "$tmpdir/out"

# role_arn + credential_source = Ec2InstanceMetadata, credentials of
# 8 s: the role is assumed again before they expire, each time signed
# with fresh IMDS credentials.
clear_env
start_creds 8 21600
imds_env
export AWS_ENDPOINT_URL_STS=$creds AWS_PROFILE=work
role_config Ec2InstanceMetadata
write_for "$s3ep" 14
grep -q "s3: credentials refreshed (due) from role .* (credential_source Ec2InstanceMetadata" "$tmpdir/out"
test "$(grep -c '^assume-role by imds$' "$log")" -ge 2
test "$(issued imds)" = "$(issued assume-role)"
s3_by assume-role

# SSO role credentials of 8 s: fetched again from the portal before they
# expire, with the token read again from the cache.
clear_env
start_creds 8 21600
export AWS_ENDPOINT_URL_SSO=$creds AWS_PROFILE=work
sso_config "sso_role_name = zerofs-role"
sso_cache corp 3600
write_for "$s3ep" 12
grep -q "s3: credentials refreshed (due) from SSO role zerofs-role" "$tmpdir/out"
test "$(issued sso)" -ge 2
s3_by sso

# The provider goes down after the start: the credentials (30 s, due
# at 15 s) keep working while they are valid, the failed refreshes are
# logged and retried with backoff; nothing written is lost.  (22 s of
# writes, so that some refreshes fail; 8 s left for nbdkit's start and
# its final uploads on a slow machine.)
clear_env
start_creds 30 21600
web_identity_env
export WRITE_MODE=down-later
write_for "$s3ep" 22
unset WRITE_MODE
server_error "refresh failed: role .*HTTP 503.*next attempt in" \
             "$tmpdir/out"
test "$(grep -c '^s3 \(expired\|unknown\)' "$log")" = 0
test "$(issued web-identity)" -ge 1
