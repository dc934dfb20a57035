// A "tick all" box for tables of requests: [data-check-all=NAME] ticks every
// checkbox named NAME in its form. Plain checkboxes still work without it.
document.addEventListener("change", (event) => {
  const name = event.target.dataset && event.target.dataset.checkAll;
  if (!name) return;
  event.target.form
    .querySelectorAll(`input[type=checkbox][name="${name}"]`)
    .forEach((box) => { box.checked = event.target.checked; });
});
