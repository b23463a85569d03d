#!/bin/sh
# Maps the container command to one certctl app; `cli` and `mcp` pass their own arguments on.
set -e
case "${1:-api}" in
  api|orchestrator|notifier|scanner|responder) exec node "dist/apps/$1/src/main.js" ;;
  migrate) exec node dist/scripts/migrate.js ;;
  cli) shift; exec node dist/apps/cli/src/main.js "$@" ;;
  mcp) shift; exec node dist/apps/mcp/src/main.js "$@" ;;
  *) echo "usage: api | orchestrator | notifier | scanner | responder | migrate | cli ARGS... | mcp" >&2; exit 64 ;;
esac
