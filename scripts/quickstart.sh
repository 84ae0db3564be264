#!/bin/sh
# quickstart.sh -- the README's first command: install what is missing,
# build, and run the Lua example against a real database file.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
make -s
cd build && ./layerdb-run ../examples/quickstart.lua quickstart.db
