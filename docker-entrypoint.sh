#!/bin/sh
# Maps the container command to one certctl app.
set -e
case "${1:-api}" in
  api|orchestrator|notifier|scanner|responder) exec node "dist/apps/$1/src/main.js" ;;
  migrate) exec node dist/scripts/migrate.js ;;
  *) echo "usage: api | orchestrator | notifier | scanner | responder | migrate" >&2; exit 64 ;;
esac
