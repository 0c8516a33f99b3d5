#!/bin/bash
# Runs versitygw's full-flow S3 tests one by one against a fresh `shoal server`
# (docs/s3.md, "Conformance"). Usage: run.sh SHOAL_BINARY [runner flags, e.g. -run REGEXP]
# Needs the versitygw v1.8.0 module (go mod download) and a versitygw binary
# (make .cache/bin/versitygw); prints one PASS/FAIL line per test and the totals.
set -e
here=$(cd "$(dirname "$0")" && pwd)
shoal=$(realpath "$1"); shift
work=$(mktemp -d)
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$work"' EXIT
(cd "$here" && go build -o "$work/s3conformance" .)
src=$(cd "$here" && go list -m -f '{{.Dir}}' github.com/versity/versitygw)/tests/integration/group-tests.go
vgw=${VERSITYGW:-$here/../../../../.cache/bin/versitygw}
cp "$vgw" "$work/versitygw"
port=$((20000 + RANDOM % 20000))
timeout 3000 "$shoal" server --data "$work/data" --listen 127.0.0.23:0 --worker-listen 127.0.0.23:0 --web-listen "" \
  --s3-listen 127.0.0.23:$port --s3-access-key AKCONF --s3-secret-key SKCONFSECRET --log-level error > "$work/server.log" 2>&1 &
SP=$!
sleep 3
# The suite's SDK client refuses a custom CA bundle with its own HTTP client;
# some tests run ./versitygw, so run from where it is.
cd "$work" && env -u AWS_CA_BUNDLE timeout 2900 ./s3conformance -src "$src" \
  -endpoint http://127.0.0.23:$port -access AKCONF -secret SKCONFSECRET "$@"
