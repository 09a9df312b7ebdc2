#!/usr/bin/env bash
# The aof demo (`make demo`): a fleet root in a temp directory with two teams, three project
# repositories and a dependency graph of tasks; the daemon dispatches them to the built-in
# demo coder (each run edits and commits on branch aof/<task-id> of its project, in a
# worktree of its own) until all are done; the api project's tasks pass a command gate and a
# review by another agent first (one is sent back once); then the board, the history of the
# reviewed task, the daemon's log and `git log`.
set -euo pipefail

BASE="${AOF_DEMO_ROOT:-$(mktemp -d "${TMPDIR:-/tmp}/aof-demo.XXXXXX")}"
ROOT="$BASE/fleet"
export AOF_ROOT="$ROOT"
# A fresh machine may have no git identity: aof commits anyway (its own committer).
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
repo() {  # a project repository with one commit on main
    local dir="$BASE/repos/$1"
    mkdir -p "$dir" && git -C "$dir" init -q -b main
    printf '# %s\n' "$1" >"$dir/README.md"
    git -C "$dir" add -A
    git -C "$dir" -c user.name=demo -c user.email=demo@localhost commit -qm "initial commit"
}

run aof init "$ROOT" --name demo
# The demo coder runs every task (a new fleet has no default coder), three at a time, half a
# second per task.
sed -i.bak -e 's/max_concurrent: 4 /max_concurrent: 3 /' \
    -e 's/^  priority: normal/  coder: demo\
  priority: normal/' "$ROOT/aof.yaml" && rm "$ROOT/aof.yaml.bak"
printf 'coders:\n  demo:\n    env: {AOF_DEMO_SECONDS: "0.5"}\n' >>"$ROOT/aof.yaml"
git -C "$ROOT" -c user.name=demo -c user.email=demo@localhost commit -qam "demo: the demo coder, 3 at a time"

say 'aof team create ... ; aof schedule create ... ; aof project create ...'
aof team create --slug platform --name Platform --mission "APIs and infrastructure" \
    --ownership company --business-priority 80 >/dev/null
aof team create --slug growth --name Growth --mission "Site and launch" \
    --ownership company --business-priority 50 >/dev/null
aof schedule create --team platform --timezone UTC --policy always_on >/dev/null
aof schedule create --team growth --timezone UTC --policy burst_on_backlog >/dev/null
for p in api infra site; do repo "$p"; done
# Done means verified: the api project's tasks pass a command gate aof runs itself and a
# review by another agent before they are done.
mkdir -p "$ROOT/workflows"
cat >"$ROOT/workflows/verified.yaml" <<'YAML'
schema: aof/workflow/v1
max_rejections: 3
gates:
  - name: tests
    run: test -s "aof-demo/$AOF_TASK_ID.md"   # the work is there, committed
    timeout_s: 60
  - name: code-review
    review: {role: reviewer}
YAML
for a in dev-1 dev-2 dev-3; do aof agent create --slug "$a" --role coder >/dev/null; done
aof agent create --slug rev-1 --role reviewer >/dev/null
aof project create --team platform --slug api --root-path "$BASE/repos/api" --workflow verified >/dev/null
aof project create --team platform --slug infra --root-path "$BASE/repos/infra" >/dev/null
aof project create --team growth --slug site --root-path "$BASE/repos/site" >/dev/null
aof team list

say 'aof task create ... (a dependency graph across teams and projects)'
new() { aof task create "$@" --ready --json | id_of; }
SCHEMA=$(new "Design the API schema" --team platform --project api --priority high)
DB=$(new "Provision the database" --team platform --project infra)
IMPL=$(new "Implement the endpoints" --team platform --project api --depends-on "$SCHEMA" --depends-on "$DB" --label demo:reject-once)
TESTS=$(new "Write the API tests" --team platform --project api --depends-on "$IMPL")
DOCS=$(new "Document the API" --team growth --project site --depends-on "$IMPL")
PAGE=$(new "Build the launch page" --team growth --project site --priority high)
new "Announce the launch" --team growth --project site --depends-on "$DOCS" --depends-on "$PAGE" >/dev/null
new "Load-test the endpoints" --team platform --project infra --depends-on "$TESTS" --priority low >/dev/null
run aof plan

run aof daemon --until-idle --interval 0.5

run aof board
run aof why "$IMPL"
run aof history "$IMPL"
run aof daemon status
say "git -C $BASE/repos/api log --oneline --all   # the demo coder's branches"
git -C "$BASE/repos/api" log --oneline --all
run aof agent logs "$SCHEMA" -n 8

say 'aof agent fanout 3 try --prompt "..." --project site   # agents on branches, no daemon'
aof agent fanout 3 try --prompt "Try a faster build" --project site
sleep 2
run aof agent list --all --grouped
run aof worktree list
say "git -C $ROOT log --format='%h %an: %s'"
git -C "$ROOT" log -n 25 --format='%h %an: %s'
say "git -C $ROOT status --short   # clean: every change was committed"
git -C "$ROOT" status --short
echo
echo "The demo fleet root is at $ROOT (every task is a file; runs/ holds each run's logs)."
