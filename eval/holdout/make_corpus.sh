#!/bin/sh
# Makes eval/holdout/corpus/ from Debian 12's own documentation (run once; the output is committed).
# Needs: groff (for gropdf: `apt-get install groff`), man-db, and the packages openssh-client, less,
# findutils, grep (their man pages), ninja-build (its HTML manual) and libexpat1-dev (Expat's HTML
# reference) installed.
set -e
out="$(dirname "$0")/corpus"
mkdir -p "$out"
# Man pages typeset by groff 1.22.4 (gropdf) through man-db: running header and footer, page numbers.
# ssh(1) is an mdoc page (BSD), the other three man(7) pages.
for page in ssh less find grep; do
    man -Tpdf "$page" > "$out/$page.pdf"
done
# Two HTML manuals, copied byte for byte: Ninja's manual (AsciiDoc) and Expat's API reference
# (hand-written XHTML; index.html is a symlink to it).
cp /usr/share/doc/ninja-build/manual.html "$out/ninja-manual.html"
cp /usr/share/doc/libexpat1-dev/expat.html/reference.html "$out/expat-reference.html"
# The licences, beside the corpus (not in it, so that they are not indexed): each package's Debian
# copyright file, and the GPL-3 and Apache-2.0 texts those files point to.
lic="$(dirname "$0")/licenses"
mkdir -p "$lic"
for pkg in openssh-client less findutils grep ninja-build libexpat1-dev; do
    cp "/usr/share/doc/$pkg/copyright" "$lic/$pkg.copyright"
done
cp /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 "$lic/"
