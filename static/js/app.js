/* Small helpers every page shares: confirmations, "select all" boxes, copy buttons and the
   header's credit counter (window.cutoutCredits, which the upload and batch scripts call). */
(function () {
  "use strict";

  /* Forms (or their submit buttons) with data-confirm ask first. */
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var button = e.submitter;
    var message = (button && button.getAttribute("data-confirm")) ||
      (form.getAttribute && form.getAttribute("data-confirm"));
    if (!message) return;
    var count = form.querySelectorAll('input[type="checkbox"][name]:checked').length;
    message = message.replace("{count}", String(count)).replace("{s}", count === 1 ? "" : "s");
    if (!window.confirm(message)) e.preventDefault();
  });

  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    var scope = document.querySelector(box.getAttribute("data-select-all"));
    var form = box.form;
    var update = function () {
      var boxes = scope.querySelectorAll('input[type="checkbox"]');
      var checked = scope.querySelectorAll('input[type="checkbox"]:checked').length;
      var count = document.getElementById("selected-count");
      if (count) count.textContent = checked ? checked + " selected" : "";
      box.checked = checked > 0 && checked === boxes.length;
      box.indeterminate = checked > 0 && checked < boxes.length;
      if (form) {
        form.querySelectorAll("[data-needs-selection]").forEach(function (b) { b.disabled = !checked; });
      }
    };
    box.addEventListener("change", function () {
      scope.querySelectorAll('input[type="checkbox"]').forEach(function (c) { c.checked = box.checked; });
      update();
    });
    scope.addEventListener("change", update);
    update();
  });

  /* Tables of three columns or more stack into cards on phones (app.css): each cell is
     labelled with its column's heading. */
  document.querySelectorAll("main table").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    if (heads.length < 3) return;
    table.classList.add("stack");
    table.querySelectorAll("tbody tr, tfoot tr").forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (cell, i) {
        if (!cell.hasAttribute("data-label") && heads[i] && !cell.hasAttribute("colspan")) {
          cell.setAttribute("data-label", heads[i]);
        }
      });
    });
  });

  /* The header's credit counter: number, word and colour follow what the server said. */
  window.cutoutCredits = function (available) {
    var n = Math.max(0, parseInt(available, 10) || 0);
    var el = document.getElementById("credits-available");
    if (!el) return;
    el.textContent = String(n);
    var word = document.getElementById("credits-word");
    if (word) word.textContent = n === 1 ? "credit" : "credits";
    var pill = document.getElementById("credits-pill");
    if (pill) {
      var low = parseInt(pill.getAttribute("data-low") || "0", 10);
      pill.classList.toggle("is-empty", n < 1);
      pill.classList.toggle("is-low", n >= 1 && n <= low);
    }
  };

  /* Copy buttons: data-copy-target names an input (its value) or an img (the picture). */
  function flash(button, text) {
    var label = button.querySelector(".copy-label") || button;
    var before = label.getAttribute("data-label") || label.textContent;
    label.setAttribute("data-label", before);
    label.textContent = text;
    var live = document.getElementById("copy-status");
    if (live) live.textContent = text;
    setTimeout(function () { label.textContent = before; }, 2000);
  }

  function copyImage(img) {
    /* Clipboards take PNG: draw the shown image on a canvas and copy that. */
    return new Promise(function (resolve, reject) {
      var canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      canvas.getContext("2d").drawImage(img, 0, 0);
      canvas.toBlob(function (blob) {
        if (!blob) { reject(new Error("no image")); return; }
        navigator.clipboard.write([new ClipboardItem({ "image/png": blob })]).then(resolve, reject);
      }, "image/png");
    });
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-copy-target]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy-target"));
    if (!target || !navigator.clipboard) { flash(button, "Copy not available"); return; }
    var done = function () { flash(button, "Copied"); };
    var failed = function () {
      if (target.select) target.select();
      flash(button, target.tagName === "IMG" ? "Could not copy" : "Press Ctrl+C to copy");
    };
    if (target.tagName === "IMG") copyImage(target).then(done, failed);
    else navigator.clipboard.writeText(target.value || target.textContent || "").then(done, failed);
  });
})();
