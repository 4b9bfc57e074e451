#!/usr/bin/env bash
# Fetch the JavaScript the rendered book serves from its own _static/ folder instead of public CDNs,
# so that pages show widgets, progress bars and mathematics with no internet connection.
#
#   bash book/_vendor/fetch.sh          # download from the npm registry, unpack, verify SHA256SUMS
#   bash book/_vendor/fetch.sh --check  # only verify the committed files against SHA256SUMS
#
# What comes from where (npm package@version: file -> file under static/, which the build copies to
# _build/html/_static/):
#   @jupyter-widgets/html-manager@1.0.15: dist/embed-amd.js, dist/*.woff2 -> widgets/
#     (the manager that renders saved ipywidgets state, and the Font Awesome fonts its CSS asks for;
#      1.0.x is the line for ipywidgets 8, 1.0.15 the release of ipywidgets 8.1.x; BSD-3-Clause)
#   requirejs@2.3.8: require.js -> widgets/require.js  (the module loader embed-amd.js needs; MIT)
#   mathjax@3.2.2: es5/tex-chtml-full.js, LICENSE -> mathjax/
#                  es5/output/chtml/fonts/woff-v2/*.woff -> mathjax/output/chtml/fonts/woff-v2/
#     (every TeX extension built in, so nothing is loaded on demand; Apache-2.0)
# static/widgets-setup.js is ours (not fetched): it points the widget manager at widgets/ for its fonts and
# lets ipywidgets typeset through MathJax 3. SHA256SUMS pins the fetched files only.
# _config.yml points myst-nb (`nb_ipywidgets_js`) and Sphinx (`mathjax_path`) at these files and adds
# static/ to `html_static_path`. That folder must not be called `_static`: Jupyter Book would then inject
# every .js file in it into every page.
set -euo pipefail
cd "$(dirname "$0")"

HTML_MANAGER=1.0.15
REQUIREJS=2.3.8
MATHJAX=3.2.2

if [[ "${1:-}" == "--check" ]]; then
    sha256sum --quiet -c SHA256SUMS
    echo "vendored JavaScript matches SHA256SUMS"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@jupyter-widgets/html-manager@$HTML_MANAGER" "requirejs@$REQUIREJS" "mathjax@$MATHJAX" >/dev/null)
for tarball in "$tmp"/*.tgz; do
    mkdir -p "${tarball%.tgz}"
    tar -xzf "$tarball" -C "${tarball%.tgz}"
done

rm -rf static/widgets static/mathjax
mkdir -p static/widgets static/mathjax/output/chtml/fonts/woff-v2
html_manager="$tmp/jupyter-widgets-html-manager-$HTML_MANAGER/package"
cp "$html_manager/dist/embed-amd.js" "$html_manager"/dist/*.woff2 static/widgets/
cp "$tmp/requirejs-$REQUIREJS/package/require.js" static/widgets/
mathjax="$tmp/mathjax-$MATHJAX/package"
cp "$mathjax/es5/tex-chtml-full.js" "$mathjax/LICENSE" static/mathjax/
cp "$mathjax"/es5/output/chtml/fonts/woff-v2/*.woff static/mathjax/output/chtml/fonts/woff-v2/

# SHA256SUMS is committed: a fetch that yields different bytes fails here. Delete it to re-pin.
if [[ -f SHA256SUMS ]]; then
    sha256sum --quiet -c SHA256SUMS
    echo "fetched files match SHA256SUMS"
else
    find static/widgets static/mathjax -type f | sort | xargs sha256sum > SHA256SUMS
    echo "wrote SHA256SUMS"
fi
