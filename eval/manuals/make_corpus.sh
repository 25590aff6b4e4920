#!/bin/sh
# Makes eval/manuals/corpus/ from Debian 12's own documentation (run once; the output is committed).
# Needs: groff (for gropdf: `apt-get install groff`), man-db, chromium, and the packages tmux, jq, lsof,
# zip and valgrind installed (their man pages / HTML manual).
set -e
out="$(dirname "$0")/corpus"
mkdir -p "$out"
# Man pages typeset by groff 1.22.4 (gropdf) through man-db: running header and footer, page numbers.
for page in tmux jq lsof zip; do
    man -Tpdf "$page" > "$out/$page.pdf"
done
# Valgrind's core manual (DocBook HTML) printed by headless Chromium, with its default header
# (date, title) and footer (file URL, "n/N").
chromium --headless --no-sandbox --disable-gpu \
    --print-to-pdf="$out/valgrind-core.pdf" file:///usr/share/doc/valgrind/html/manual-core.html
