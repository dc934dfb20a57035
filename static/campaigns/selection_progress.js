// Polls a selection run's status while it runs and reloads the page once it has moved on.
(function () {
  const root = document.querySelector(".selection-run");
  if (!root) return;
  const url = root.dataset.statusUrl;
  const started = root.dataset.status;
  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      const data = await response.json();
      if (data.status !== started || !data.running) {
        window.location.reload();
        return;
      }
      const bar = document.getElementById("run-progress");
      if (bar) bar.value = data.percent;
      const step = document.getElementById("run-step");
      if (step) step.textContent = data.step;
    } catch (error) {
      // A dropped request is retried on the next tick.
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
