/* Before/after compare slider and preview backgrounds. Keyboard: the slider is a range input. */
(function () {
  "use strict";
  document.querySelectorAll(".compare").forEach(function (box) {
    var beforeLayer = box.querySelector(".compare-before");
    var beforeImg = beforeLayer && beforeLayer.querySelector("img");
    var range = box.querySelector(".compare-range");
    var note = document.getElementById("compare-note");
    if (!range) return;
    if (!beforeImg) {
      if (note) note.hidden = false;
      return;
    }
    var src = beforeImg.getAttribute("src");
    if (!src && box.dataset.beforeKey && window.sessionStorage) {
      try { src = sessionStorage.getItem(box.dataset.beforeKey); } catch (e) { src = null; }
      if (src) beforeImg.src = src;
    }
    if (!src) {
      if (note) note.hidden = false;
      return;
    }
    box.classList.add("comparing");
    box.querySelectorAll("[hidden]").forEach(function (el) { el.hidden = false; });
    function set() {
      box.style.setProperty("--pos", range.value + "%");
      range.setAttribute("aria-valuetext", range.value + "% original");
    }
    range.addEventListener("input", set);
    set();
  });

  document.querySelectorAll(".bg-toggle").forEach(function (group) {
    var target = document.getElementById("compare");
    group.querySelectorAll("button[data-bg]").forEach(function (button) {
      button.addEventListener("click", function () {
        group.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
        button.setAttribute("aria-pressed", "true");
        target.classList.remove("checker", "bg-white", "bg-dark");
        var bg = button.getAttribute("data-bg");
        target.classList.add(bg === "checker" ? "checker" : "bg-" + bg);
      });
    });
  });
})();
