#!/usr/bin/env bash
# The aof demo (`make demo`): a fleet root in a temp directory, a small dependency graph of
# tasks, agents claiming and completing them in order, a question answered, the board, git log.
# Runs against the built-in scripted flow until the scheduler and demo coder land (issue 4).
set -euo pipefail

ROOT="${AOF_DEMO_ROOT:-$(mktemp -d "${TMPDIR:-/tmp}/aof-demo.XXXXXX")/fleet}"
export AOF_ROOT="$ROOT"
# A fresh machine may have no git identity: aof commits anyway (committer from aof.yaml).
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }

run aof init "$ROOT" --name demo
say 'aof task create ... (a small dependency graph)'
SCHEMA=$(aof task create "Design the API schema" --priority high --label api --ready --json | id_of)
IMPL=$(aof task create "Implement the endpoints" --depends-on "$SCHEMA" --label api --ready --json | id_of)
DOCS=$(aof task create "Document the API" --depends-on "$IMPL" --label docs --ready --json | id_of)
LOGO=$(aof task create "Pick a logo" --priority low --json | id_of)
echo "created $SCHEMA <- $IMPL <- $DOCS, and $LOGO in backlog"
run aof task list

say "aof task claim $IMPL --agent coder-1   # refused: it waits on $SCHEMA"
aof task claim "$IMPL" --agent coder-1 || echo "(exit $? as documented: dependency not done)"

say "aof task claim $SCHEMA --agent coder-1 --json"
TOKEN=$(aof task claim "$SCHEMA" --agent coder-1 --json | token_of)
echo "lease token: $TOKEN"
AOF_ACTOR=agent:coder-1 AOF_TASK_ID=$SCHEMA AOF_LEASE_TOKEN=$TOKEN \
    run aof task progress --note "drafted the resources"
say "aof task complete $SCHEMA --token stale --summary ...   # refused: stale fencing token"
aof task complete "$SCHEMA" --token 0-stale --summary "x" || echo "(exit $?: stale token)"
AOF_ACTOR=agent:coder-1 run aof task complete "$SCHEMA" --token "$TOKEN" --summary "Schema in api.yaml"

TOKEN=$(aof task claim "$IMPL" --agent coder-2 --json | token_of)
AOF_ACTOR=agent:coder-2 run aof task block "$IMPL" --token "$TOKEN" --question "REST or GraphQL?"
run aof task answer "$IMPL" --text "REST, like the rest of the platform"
TOKEN=$(aof task claim "$IMPL" --agent coder-2 --json | token_of)
AOF_ACTOR=agent:coder-2 run aof task complete "$IMPL" --token "$TOKEN" --summary "Endpoints and tests"
TOKEN=$(aof task claim "$DOCS" --agent writer-1 --json | token_of)
AOF_ACTOR=agent:writer-1 run aof task complete "$DOCS" --token "$TOKEN" --summary "Docs published"
run aof task cancel "$LOGO" --reason "not this quarter"

run aof board
run aof history "$IMPL"
run aof doctor
run aof lint
say "git -C $ROOT log --format='%h %an: %s'"
git -C "$ROOT" log --format='%h %an: %s'
say "git -C $ROOT status --short   # clean: every change was committed"
git -C "$ROOT" status --short
echo
echo "The demo fleet root is at $ROOT (look around: every task is a file)."
