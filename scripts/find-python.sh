#!/usr/bin/env bash
# Print the path of a working Python interpreter of the given minor version (e.g. 3.12), or
# nothing. Looks on PATH, then in pyenv's versions.
set -u
version="$1"
for candidate in "python$version" "$HOME"/.pyenv/versions/"$version".*/bin/"python$version"; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import sys' >/dev/null 2>&1; then echo "$path"; exit 0; fi
done
exit 0
