// The console's small interactive parts: branches move through the script and
// pre-fill the outcome, the topic rule is checked as boxes are ticked, keys work.
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // Where the agent is in the script and which topics are ticked survive the page
  // reloads that recording a gift or a request causes, until the call ends.
  const memoryKey = "callcenter:" + location.pathname;
  function remember() {
    const step = current();
    const topics = $$('input[name="topics"]:checked').map((i) => i.value);
    try {
      sessionStorage.setItem(memoryKey, JSON.stringify({ step: step && step.dataset.step, topics: topics }));
    } catch (e) { /* storage off: nothing to keep */ }
  }
  function recall() {
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(memoryKey) || "null"); } catch (e) { saved = null; }
    if (!saved) return;
    (saved.topics || []).forEach((code) => {
      const box = $('input[name="topics"][value="' + code + '"]');
      if (box) box.checked = true;
    });
    const step = saved.step && $("#step-" + saved.step);
    if (step) goTo(step, false);
  }

  function current() { return $(".step.current"); }
  function goTo(step, save) {
    if (!step) return;
    $$(".step.current").forEach((s) => s.classList.remove("current"));
    step.classList.add("current");
    step.scrollIntoView({ block: "nearest" });
    step.focus({ preventScroll: true });
    if (save !== false) remember();
  }

  function showOutcomeFields() {
    const select = $("#id_disposition");
    if (!select) return;
    const value = select.value;
    const reason = $(".for-reason"), callback = $(".for-callback");
    if (reason) reason.hidden = value !== "not_interested";
    if (callback) callback.hidden = !(value === "busy" || value === "reached");
  }

  function checkRule() {
    const box = $(".console"), rule = $("#rule");
    if (!box || !rule) return;
    const min = parseInt(box.dataset.minTopics || "0", 10);
    const qualified = (box.dataset.qualified || "").split(",").filter(Boolean);
    const done = $$('input[name="topics"]:checked').map((i) => i.value);
    const needed = qualified.slice(0, min);
    const met = needed.every((code) => done.includes(code));
    rule.classList.toggle("met", met && done.length > 0);
    rule.textContent = met && done.length > 0 ? rule.dataset.met : rule.dataset.missed;
  }

  function tickTopic(code) {
    const box = $('input[name="topics"][value="' + code + '"]');
    if (box && !box.checked) { box.checked = true; checkRule(); remember(); }
  }

  function clickBranch(button) {
    const step = button.closest(".step");
    const say = step && $(".branch-say", step);
    if (say && button.dataset.say) { say.textContent = button.dataset.say; say.hidden = false; }
    if (step && $("#topics [data-topic='" + step.dataset.step + "']")) tickTopic(step.dataset.step);
    if (button.dataset.disposition) {
      const select = $("#id_disposition");
      if (select) {
        select.value = button.dataset.disposition;
        showOutcomeFields();
        const field = button.dataset.disposition === "not_interested" ? $("#id_reason")
          : (button.dataset.disposition === "busy" ? $("#id_callback_at") : select);
        if (field) field.focus();
      }
    }
    if (button.dataset.next) goTo($("#step-" + button.dataset.next));
  }

  function showGiftFields() {
    const chosen = $('input[name="gift"]:checked');
    const kind = chosen ? chosen.dataset.kind : "";
    const details = chosen ? (chosen.dataset.details || "").split(",") : [];
    $$(".for-home_delivery, .for-store_pickup").forEach((p) => { p.hidden = !p.classList.contains("for-" + kind); });
    $$(".for-detail").forEach((p) => { p.hidden = !details.includes(p.dataset.detail); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $$(".branch").forEach((b) => b.addEventListener("click", () => clickBranch(b)));
    $$('input[name="topics"]').forEach((i) => i.addEventListener("change", () => { checkRule(); remember(); }));
    const endForm = $("#end-form");
    if (endForm) endForm.addEventListener("submit", () => { try { sessionStorage.removeItem(memoryKey); } catch (e) { /* nothing kept */ } });
    recall();
    $$('input[name="gift"]').forEach((i) => i.addEventListener("change", showGiftFields));
    const select = $("#id_disposition");
    if (select) select.addEventListener("change", showOutcomeFields);
    showOutcomeFields();
    checkRule();
    document.addEventListener("keydown", function (event) {
      const target = event.target;
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (target.matches("input, textarea, select")) return;
      const step = current();
      if (!step) return;
      if (/^[1-9]$/.test(event.key)) {
        const button = $$(".branch", step)[parseInt(event.key, 10) - 1];
        if (button) { event.preventDefault(); clickBranch(button); }
      } else if (event.key === "j") {
        goTo(step.nextElementSibling && step.nextElementSibling.classList.contains("step") ? step.nextElementSibling : null);
      } else if (event.key === "k") {
        const prev = step.previousElementSibling;
        goTo(prev && prev.classList.contains("step") ? prev : null);
      } else if (event.key === "e") {
        const end = $("#id_disposition");
        if (end) { event.preventDefault(); end.focus(); }
      }
    });
  });
})();
