#!/usr/bin/env bash
# Debian packages the app itself needs: Pango for WeasyPrint, fonts that cover Latin,
# Nordic and CJK names, poppler-utils for the PDF checks in tests.
source "$(dirname "$0")/lib.sh"
apt_install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-noto-cjk poppler-utils
