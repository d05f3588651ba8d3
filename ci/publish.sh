#!/usr/bin/env bash
# Publish the default suite's results on this machine, all from one run:
# runs every engine on a sparse file sized for the suite with direct IO (or
# DEVICE=..., SPEC=..., ENGINES=..., REPEAT=... for a smaller run), then
# writes from its result files in docs/run
#   docs/results.md    environment, headline and phase tables (Markdown),
#                      and the thesis figures
#   docs/plots/        those figures as SVG (snapbench plot)
#   docs/report.html   the same run as one self-contained page
#                      (snapbench report --format html)
#   docs/report.png    a screenshot of the page's top, when a headless
#                      Chromium is installed (CHROMIUM=... to pick one)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${SNAPBENCH:-bin/snapbench}"
out="docs/run"
rm -rf "$out" docs/plots
devflag=()
if [ -n "${DEVICE:-}" ]; then devflag=(--device "$DEVICE"); fi
"$bin" run "${devflag[@]}" --out "$out" ${SPEC:+--spec "$SPEC"} ${ENGINES:+--engines "$ENGINES"} ${REPEAT:+--repeat "$REPEAT"}
figures=$("$bin" plot --format svg --out docs/plots "$out")
{
	echo "# snapbench results"
	echo
	echo "Produced by \`make publish\` (ci/publish.sh): \`snapbench run\` with the default"
	echo "suite on a sparse file with direct IO, then \`snapbench report --format markdown\`"
	echo "and \`snapbench plot\`; [report.html](report.html) is the same run as one page."
	echo "Regenerate them on your machine with the same command."
	echo
	echo "## Environment"
	echo
	echo '```'
	"$bin" version
	ci/machine.sh
	echo '```'
	echo
	"$bin" report --format markdown "$out"
	echo
	echo "## Figures"
	echo
	echo "\`snapbench plot\` draws these from the same result files; \`snapbench plot --all\`"
	echo "draws every chart."
	echo
	for f in $figures; do
		name=$(basename "$f" .svg)
		echo "![${name//-/ }](plots/$name.svg)"
		echo
	done
	echo "## Scale"
	echo
	echo "How clone creation, metadata and memory grow to 100,000 clones and"
	echo "volumes to 1 TiB: [scale.md](scale.md), from \`make publish-scale\`."
} > docs/results.md
"$bin" report --format html --title "snapbench results: the default suite" "$out" > docs/report.html
chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [ -n "$chromium" ]; then
	profile=$(mktemp -d)
	trap 'rm -rf "$profile"' EXIT
	"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
		--user-data-dir="$profile" --window-size=1280,1800 \
		--screenshot="$PWD/docs/report.png" "file://$PWD/docs/report.html" 2>/dev/null
	echo "publish: wrote docs/results.md, docs/plots/, docs/report.html, docs/report.png and the result files in $out"
else
	echo "publish: wrote docs/results.md, docs/plots/, docs/report.html and the result files in $out (no chromium: docs/report.png not refreshed)"
fi
