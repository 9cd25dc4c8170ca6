/* Zoom and pan on the plain result viewer (the result page once editing is over), with the
 * guided editor's view (static/js/zoom.js): the + / − / Fit buttons and the keys + − 0 while the
 * viewer has focus, Ctrl and the wheel (a trackpad's pinch) or two fingers to zoom; once zoomed,
 * the wheel zooms too and dragging moves the picture. Both pictures (the result and the
 * original under the before/after slider) move together; the slider's split stays in place. */
(function () {
  "use strict";
  var box = document.getElementById("compare");
  var after = document.getElementById("result-image");
  var viewer = box && box.closest(".viewer");
  var tools = viewer && viewer.querySelector(".viewer-tools");
  if (!box || !after || !tools || !window.CutoutZoom) return;
  var out = tools.querySelector(".zoom-value");
  var pointers = {}, gesture = null;

  function image() {
    return {
      w: after.naturalWidth || Number(after.getAttribute("width")) || box.clientWidth,
      h: after.naturalHeight || Number(after.getAttribute("height")) || box.clientHeight
    };
  }
  /* The pictures are laid out to fit the box (object-fit: contain); the view is drawn by one
     transform of them: the layout's own scale and centring taken out. */
  function apply() {
    var v = zoom.view, s = zoom.size(), im = image(), f = zoom.fitScale();
    var k = v.s / f, cx = (s.w - im.w * f) / 2, cy = (s.h - im.h * f) / 2;
    box.style.setProperty("--zoom", v.fitted ? "none" :
      "translate(" + (v.x - k * cx).toFixed(2) + "px, " + (v.y - k * cy).toFixed(2) + "px) scale(" + k.toFixed(4) + ")");
    box.classList.toggle("zoomed", !v.fitted);
    out.textContent = Math.round(v.s * 100) + "%";
  }
  var zoom = window.CutoutZoom(box, image, apply);

  var actions = {
    "zoom-in": function () { zoom.zoomCenter(1.25); },
    "zoom-out": function () { zoom.zoomCenter(0.8); },
    "fit": zoom.fit
  };
  tools.querySelectorAll("[data-action]").forEach(function (b) {
    b.addEventListener("click", function () { actions[b.dataset.action](); });
  });
  box.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "+" || e.key === "=") actions["zoom-in"]();
    else if (e.key === "-" || e.key === "_") actions["zoom-out"]();
    else if (e.key === "0") zoom.fit();
    else return;
    e.preventDefault();
  });
  box.addEventListener("wheel", function (e) {
    if (e.ctrlKey || !zoom.view.fitted) zoom.wheel(e);  // a plain wheel over a fitted picture scrolls the page
  }, { passive: false });

  function down(e) {
    pointers[e.pointerId] = zoom.toImage(e);
    var ids = Object.keys(pointers);
    if (ids.length === 2) gesture = zoom.pinch(pointers[ids[0]], pointers[ids[1]]);
    else if (ids.length === 1 && !zoom.view.fitted) gesture = { kind: "pan" };
    else return;
    box.setPointerCapture(e.pointerId);
    box.classList.add("panning");
    e.preventDefault();
  }
  function move(e) {
    if (!(e.pointerId in pointers)) return;
    var last = pointers[e.pointerId], p = zoom.toImage(e);
    pointers[e.pointerId] = p;
    if (!gesture) return;
    if (gesture.kind === "pinch") {
      var ids = Object.keys(pointers), a = pointers[ids[0]], b = pointers[ids[1]];
      if (a && b) zoom.pinchMove(gesture, a, b);
    } else zoom.panBy(p.sx - last.sx, p.sy - last.sy);
  }
  function up(e) {
    delete pointers[e.pointerId];
    if (!Object.keys(pointers).length) { gesture = null; box.classList.remove("panning"); }
    else if (gesture && gesture.kind === "pinch") gesture = { kind: "pan" };
  }
  box.addEventListener("pointerdown", down);
  box.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);  // also where a drag of the slider ends outside
  window.addEventListener("pointercancel", up);

  tools.hidden = false;
  box.classList.add("zoomable");
  if (window.ResizeObserver) new ResizeObserver(zoom.resized).observe(box);
  else window.addEventListener("resize", zoom.resized);
  if (after.complete) zoom.fit(); else after.addEventListener("load", zoom.fit);
})();
