/* The administration's accessible names (RGAA 11.1, 6.2): Flask-Admin's scripts build the
   filter rows (a condition and a value per filter) and select2 widgets without labels, and
   its icon links carry only a title. Each gets a French accessible name, now and whenever
   a script adds one (a new filter row). Served from /static: no inline script. */
(function () {
  "use strict";

  function text(node) {
    return node ? node.textContent.replace(/[×\u00d7]/g, "").replace(/\s+/g, " ").trim() : "";
  }

  function named(el) {
    if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.title) {
      return true;
    }
    if (el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]')) {
      return true;
    }
    return Boolean(el.closest("label"));
  }

  function label(root) {
    root.querySelectorAll("table.filters tr").forEach(function (row) {
      var name = text(row.querySelector("td"));
      row.querySelectorAll("select, input:not([type=hidden]), textarea").forEach(function (el) {
        if (named(el)) { return; }
        var condition = el.classList.contains("filter-op") || el.closest(".select2-container");
        el.setAttribute("aria-label", (condition ? "Condition du filtre « " : "Valeur du filtre « ") +
          name + " »");
      });
    });
    root.querySelectorAll("select, input:not([type=hidden]), textarea").forEach(function (el) {
      if (!named(el)) {
        el.setAttribute("aria-label", el.getAttribute("placeholder") || "Recherche");
      }
    });
    // a title alone is not a label (axe: label-title-only): the row checkboxes
    root.querySelectorAll("input[title]:not([aria-label]), select[title]:not([aria-label])")
      .forEach(function (el) { el.setAttribute("aria-label", el.title); });
    // select2: the cross removing a chosen item, the link opening a single choice
    root.querySelectorAll("a.select2-search-choice-close:not([aria-label])").forEach(function (a) {
      a.setAttribute("aria-label", "Retirer « " + text(a.parentNode) + " »");
    });
    root.querySelectorAll("a.select2-choice:not([aria-label])").forEach(function (a) {
      var container = a.closest(".select2-container");
      var id = container && container.id ? container.id.replace(/^s2id_/, "") : "";
      var field = id && document.querySelector('label[for="' + CSS.escape(id) + '"]');
      var chosen = text(a);
      a.setAttribute("aria-label", (field ? text(field) : "Choisir") + (chosen ? " : " + chosen : ""));
    });
    root.querySelectorAll("a, button").forEach(function (el) {
      if (!text(el) && !el.getAttribute("aria-label")) {
        var title = el.getAttribute("title") || el.getAttribute("data-original-title");
        if (title) { el.setAttribute("aria-label", title); }
      }
    });
  }

  function start() {
    label(document);
    var pending = false;
    new MutationObserver(function () {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; label(document); });
    }).observe(document.body, {childList: true, subtree: true});
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
