// stocksync console: small progressive enhancements. Every form works
// without this script; it only adds select-all boxes, confirm dialogs and
// filters that submit themselves when a choice changes.
(function () {
  "use strict";

  // <input type="checkbox" data-select-all="NAME"> ticks every
  // checkbox named NAME in the same form.
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var name = all.getAttribute("data-select-all");
    var form = all.form || document;
    var boxes = function () {
      return Array.prototype.slice.call(form.querySelectorAll('input[type="checkbox"][name="' + name + '"]'));
    };
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { if (!b.disabled) { b.checked = all.checked; } });
    });
    form.addEventListener("change", function (ev) {
      if (ev.target === all || ev.target.name !== name) { return; }
      var bs = boxes();
      var on = bs.filter(function (b) { return b.checked; }).length;
      all.checked = on === bs.length && on > 0;
      all.indeterminate = on > 0 && on < bs.length;
    });
  });

  // <form data-confirm="question"> asks before it is sent.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        ev.preventDefault();
      }
    });
  });

  // <form data-autosubmit>: a changed <select> applies the filter at
  // once; the Apply button stays for text fields and for no-script use.
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.querySelectorAll("select").forEach(function (sel) {
      sel.addEventListener("change", function () {
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      });
    });
  });

  // Picking an action for "another decision" in the resolve form selects
  // that option.
  var action = document.getElementById("action");
  var other = document.getElementById("choice-other");
  if (action && other) {
    action.addEventListener("change", function () { other.checked = true; });
  }
})();
