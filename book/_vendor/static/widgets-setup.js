// Loaded just before the widget manager (widgets/embed-amd.js). Ours, not fetched: see ../fetch.sh.
(function () {
  // 1. Fonts. The widget manager's modules (named AMD modules inside embed-amd.js) fetch their fonts
  //    next to their RequireJS module URL, which is baseUrl + module id: a folder that does not exist.
  //    Give RequireJS (through the global `require` object it reads as configuration when it loads) a
  //    baseUrl and paths that put every @jupyter-widgets module in widgets/, where the fonts are.
  var widgets = document.currentScript.src.replace(/[^/]*([?#].*)?$/, "") + "widgets/";
  window.__jupyter_widgets_assets_path__ = widgets;
  if (window.require === undefined) {
    window.require = {
      baseUrl: widgets,
      paths: {"@jupyter-widgets/html-manager/dist": ".", "@jupyter-widgets": "."},
    };
  }

  // 2. ipywidgets typesets widget descriptions with MathJax 2's MathJax.Hub.Queue, which MathJax 3
  //    (loaded by Sphinx) does not have: the call throws and the widget is left half drawn. Route it
  //    to MathJax 3's typesetPromise. MathJax is a deferred script, so it exists by DOMContentLoaded,
  //    before the widget manager renders anything.
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (mathjax === undefined || mathjax.Hub !== undefined) {
      return;
    }
    mathjax.Hub = {
      Queue: function (command) {
        var element = Array.isArray(command) ? command[2] : undefined;
        if (window.MathJax.startup && window.MathJax.typesetPromise) {
          window.MathJax.startup.promise.then(function () {
            return window.MathJax.typesetPromise(element ? [element] : undefined);
          });
        }
      },
    };
  });
})();
