/* Live encoding / length / segment counter under a template's text.
 *
 * Mirrors messaging/encoding.py: GSM-7 (160, or 153 per part; extension characters
 * count two and are never split) or UCS-2 (70, or 67 per part; surrogate pairs count
 * two). Placeholders are replaced by the typical values in data-samples, and marks
 * are stripped (đ -> d) when "send without diacritics" is ticked.
 */
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "^{}\\[~]|€\f";
  var PLAIN = {"đ": "d", "Đ": "D", "–": "-", "—": "-", "‘": "'", "’": "'",
    "“": '"', "”": '"', "…": "...", "\u00a0": " "};

  function strip(text) {
    var mapped = Array.from(text).map(function (c) { return PLAIN[c] || c; }).join("");
    return mapped.normalize("NFD").replace(/\p{Mn}/gu, "").normalize("NFC");
  }

  function render(body, samples) {
    return body.replace(/\{\{|\}\}|\{([a-z_]*)\}/g, function (all, name) {
      if (all === "{{") { return "{"; }
      if (all === "}}") { return "}"; }
      return Object.prototype.hasOwnProperty.call(samples, name) ? samples[name] : all;
    });
  }

  function parts(units, size) {
    var count = 1, used = 0;
    units.forEach(function (cost) {
      if (used + cost > size) { count += 1; used = 0; }
      used += cost;
    });
    return count;
  }

  function info(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (c) {
      return BASIC.indexOf(c) >= 0 || EXTENSION.indexOf(c) >= 0;
    });
    var units = chars.map(function (c) {
      if (gsm) { return EXTENSION.indexOf(c) >= 0 ? 2 : 1; }
      return c.codePointAt(0) > 0xffff ? 2 : 1;
    });
    var length = units.reduce(function (a, b) { return a + b; }, 0);
    var single = gsm ? 160 : 70, perPart = gsm ? 153 : 67;
    var segments = length === 0 ? 0 : (length <= single ? 1 : parts(units, perPart));
    return {encoding: gsm ? "GSM-7" : "UCS-2", length: length, segments: segments};
  }

  function attach(textarea) {
    var samples = JSON.parse(textarea.dataset.samples || "{}");
    var output = document.createElement("div");
    output.className = "sms-counter";
    output.setAttribute("aria-live", "polite");
    textarea.parentNode.appendChild(output);
    var strip_box = document.getElementById("id_strip_diacritics");
    var limit_box = document.getElementById("id_max_segments");

    function update() {
      var text = render(textarea.value, samples);
      if (strip_box && strip_box.checked) { text = strip(text); }
      var result = info(text);
      var limit = limit_box ? parseInt(limit_box.value, 10) || 0 : 0;
      output.textContent = result.encoding + " · " + result.length + " · " +
        result.segments + " SMS" + (limit ? " / " + limit : "");
      output.classList.toggle("sms-counter-over", limit > 0 && result.segments > limit);
      output.title = text;
    }
    [textarea, strip_box, limit_box].forEach(function (el) {
      if (el) {
        el.addEventListener("input", update);
        el.addEventListener("change", update);
      }
    });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-sms-counter]").forEach(attach);
  });

  if (typeof module !== "undefined") {
    module.exports = {info: info, strip: strip, render: render};
  }
})();
