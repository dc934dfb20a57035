// The campaign's selection inlines: show only the parameters the chosen measure takes
// (revenue column, window, extra column, named list, campaign kind) and only the
// operators that can compare it. The form checks the same on save; this only keeps
// the rows short and the choices right while staff compose them.
(function () {
  "use strict";
  const PARAM_FIELDS = {
    attribute: ["attribute"],
    column: ["revenue_column"],
    window: ["window_from", "window_to"],
    list: ["named_list"],
    campaign_kind: ["campaign_kind", "campaigns_since"],
  };
  // The campaign form's tier measure has its own field names.
  const TIER_FIELDS = {
    column: ["tier_revenue_column"],
    window: ["tier_window_from", "tier_window_to"],
  };

  function scopeOf(select) {
    if (select.name === "tier_measure") return { root: document, prefix: "", fields: TIER_FIELDS };
    const row = select.closest("tr.form-row, .inline-related") || select.form;
    const prefix = select.name.replace(/measure$/, "");
    return { root: row, prefix: prefix, fields: PARAM_FIELDS };
  }

  function field(scope, name) {
    const element = scope.root.querySelector('[name="' + scope.prefix + name + '"]');
    if (!element) return null;
    return element.closest(".related-widget-wrapper") || element;
  }

  function update(select) {
    const option = select.options[select.selectedIndex];
    const params = option && option.dataset.params ? option.dataset.params.split(" ") : [];
    const scope = scopeOf(select);
    for (const [param, names] of Object.entries(scope.fields)) {
      for (const name of names) {
        const element = field(scope, name);
        if (element) element.classList.toggle("param-hidden", !params.includes(param));
      }
    }
    const operator = scope.root.querySelector('[name="' + scope.prefix + 'operator"]');
    if (operator && option && option.dataset.ops) {
      const allowed = option.dataset.ops.split(" ");
      for (const item of operator.options) {
        const refused = item.value !== "" && !allowed.includes(item.value);
        item.hidden = refused;
        item.disabled = refused;
      }
      if (operator.value && !allowed.includes(operator.value)) operator.value = "";
      if (!operator.value && allowed.length === 1) operator.value = allowed[0];
    }
  }

  // A tabular inline shows a parameter's column only while some row needs it, so a
  // list of simple rules stays narrow.
  function fitColumns(table) {
    if (!table) return;
    const needed = new Set();
    for (const select of table.querySelectorAll("tr.form-row:not(.empty-form) select.rule-measure")) {
      const option = select.options[select.selectedIndex];
      if (option && option.dataset.params) option.dataset.params.split(" ").forEach((p) => needed.add(p));
    }
    for (const [param, names] of Object.entries(PARAM_FIELDS)) {
      for (const name of names) {
        for (const cell of table.querySelectorAll("th.column-" + name + ", td.field-" + name)) {
          cell.classList.toggle("column-hidden", !needed.has(param));
        }
      }
    }
  }

  function updateAll(root) {
    for (const select of root.querySelectorAll("select.rule-measure")) {
      if (!select.name.includes("__prefix__")) update(select);
    }
    for (const table of document.querySelectorAll(".selection-inline table")) fitColumns(table);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select.rule-measure")) {
      update(event.target);
      fitColumns(event.target.closest("table"));
    }
  });
  document.addEventListener("formset:added", function (event) {
    updateAll(event.target);
  });
  document.addEventListener("formset:removed", function () {
    updateAll(document);
  });
  document.addEventListener("DOMContentLoaded", function () {
    updateAll(document);
  });
})();
