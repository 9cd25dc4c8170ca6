/* Cutout options: show the fields that matter for the chosen mode. No dependencies. */
(function () {
  "use strict";
  document.querySelectorAll("form").forEach(function (form) {
    var radios = form.querySelectorAll('input[name="style"]');
    if (!radios.length) return;
    var crop = form.querySelector('input[name="crop"]');
    var colour = form.querySelector('input[name="bg_color"]');
    var output = form.querySelector("#bg-color-value");
    var format = form.querySelector('select[name="format"]');

    function style() {
      var checked = form.querySelector('input[name="style"]:checked');
      return checked ? checked.value : "transparent";
    }

    function update() {
      var s = style();
      form.querySelectorAll("[data-show-for]").forEach(function (el) {
        el.hidden = el.getAttribute("data-show-for").split(" ").indexOf(s) < 0;
      });
      form.querySelectorAll("[data-hide-for]").forEach(function (el) {
        el.hidden = el.getAttribute("data-hide-for").split(" ").indexOf(s) >= 0;
      });
      var cropping = s === "crop" || (crop && crop.checked && s !== "mask");
      form.querySelectorAll("[data-show-for-crop]").forEach(function (el) {
        el.hidden = !cropping;
      });
      if (format) {
        var zip = format.querySelector('option[value="zip"]');
        if (zip) {
          zip.disabled = s === "mask";
          if (zip.disabled && format.value === "zip") format.value = "png";
        }
      }
      form.querySelectorAll(".mode-option").forEach(function (label) {
        var input = label.querySelector("input");
        label.classList.toggle("selected", !!(input && input.checked));
      });
    }

    radios.forEach(function (r) { r.addEventListener("change", update); });
    if (crop) crop.addEventListener("change", update);
    function pressed() {
      form.querySelectorAll(".colour-preset").forEach(function (b) {
        b.setAttribute("aria-pressed", String(!!colour && b.getAttribute("data-colour") === colour.value.toLowerCase()));
      });
    }
    if (colour && output) {
      colour.addEventListener("input", function () { output.textContent = colour.value; pressed(); });
    }
    /* A preset sets the colour picker (the re-render or upload then uses it). */
    form.querySelectorAll(".colour-preset").forEach(function (b) {
      b.addEventListener("click", function () {
        if (!colour) return;
        colour.value = b.getAttribute("data-colour");
        colour.dispatchEvent(new Event("input", { bubbles: true }));
      });
    });
    pressed();
    pictures(form);
    update();
  });

  /* Background pictures (the re-render form): a chosen file selects "Your picture" and shows
     in its tile; a preset chosen after it drops the file, so it is not sent for nothing. */
  function pictures(form) {
    var file = form.querySelector('input[name="bg_file"]');
    var own = form.querySelector('input[name="bg_preset"][value="upload"]');
    var preview = form.querySelector("#bg-own-preview");
    if (!file || !own) return;
    var shown = null;
    function show() {
      if (shown) { URL.revokeObjectURL(shown); shown = null; }
      var chosen = file.files && file.files[0];
      if (preview) {
        preview.style.backgroundImage = "";
        preview.textContent = "+";
        if (chosen && window.URL) {
          shown = URL.createObjectURL(chosen);
          preview.style.backgroundImage = 'url("' + shown + '")';
          preview.textContent = "";
        }
      }
      if (chosen) own.checked = true;
    }
    file.addEventListener("change", show);
    own.addEventListener("change", function () { if (!file.files || !file.files.length) file.click(); });
    form.querySelectorAll('input[name="bg_preset"]').forEach(function (r) {
      if (r === own) return;
      r.addEventListener("change", function () { if (r.checked && file.value) { file.value = ""; show(); } });
    });
  }
})();
