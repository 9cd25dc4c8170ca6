/* Zoom and pan of a picture shown in a box, shared by the guided editor (static/js/editor.js)
 * and the plain result viewer (static/js/viewer.js). The view is a scale ``s`` (screen pixels
 * per image pixel) and the offset ``x``, ``y`` of the image's top left corner in the box;
 * ``fitted`` while it shows the whole image. ``image()`` gives the image's size {w, h};
 * ``changed()`` is called after every change (the caller draws). No dependencies. */
window.CutoutZoom = function (stage, image, changed) {
  "use strict";
  var MAX_SCALE = 32;
  var view = { s: 1, x: 0, y: 0, fitted: true };

  function size() { return { w: stage.clientWidth, h: stage.clientHeight }; }
  function fitScale() { var s = size(), im = image(); return Math.min(s.w / im.w, s.h / im.h); }
  function fit() {
    var s = size(), im = image();
    view.s = fitScale();
    view.x = (s.w - im.w * view.s) / 2;
    view.y = (s.h - im.h * view.s) / 2;
    view.fitted = true;
    changed();
  }
  function zoomAt(factor, cx, cy) {
    var next = Math.max(fitScale() * 0.5, Math.min(MAX_SCALE, view.s * factor));
    var ix = (cx - view.x) / view.s, iy = (cy - view.y) / view.s;
    view.s = next;
    view.x = cx - ix * next;
    view.y = cy - iy * next;
    view.fitted = false;
    changed();
  }
  function zoomCenter(factor) { var s = size(); zoomAt(factor, s.w / 2, s.h / 2); }
  function panBy(dx, dy) { view.x += dx; view.y += dy; view.fitted = false; changed(); }
  /* A pointer event's place: in image pixels (x, y) and in the box (sx, sy). */
  function toImage(e) {
    var r = stage.getBoundingClientRect();
    var px = e.clientX - r.left - stage.clientLeft, py = e.clientY - r.top - stage.clientTop;
    return { x: (px - view.x) / view.s, y: (py - view.y) / view.s, sx: px, sy: py };
  }
  /* The wheel zooms about the pointer (a trackpad's pinch comes as a wheel with Ctrl);
     Shift and the wheel pans. */
  function wheel(e) {
    e.preventDefault();
    var p = toImage(e);
    if (e.ctrlKey || !e.shiftKey) zoomAt(Math.exp(-e.deltaY * (e.deltaMode ? 0.05 : 0.0015)), p.sx, p.sy);
    else panBy(-e.deltaX, -e.deltaY);
  }
  /* Two fingers: pinch() starts the gesture from the two places (toImage's), pinchMove() follows
     them: the view moves with their middle and scales with their distance. */
  function pinch(a, b) {
    return { kind: "pinch", d: Math.hypot(a.sx - b.sx, a.sy - b.sy), mx: (a.sx + b.sx) / 2, my: (a.sy + b.sy) / 2 };
  }
  function pinchMove(g, a, b) {
    var d = Math.hypot(a.sx - b.sx, a.sy - b.sy), mx = (a.sx + b.sx) / 2, my = (a.sy + b.sy) / 2;
    view.x += mx - g.mx; view.y += my - g.my;
    if (g.d > 0) zoomAt(d / g.d, mx, my); else changed();
    g.d = d; g.mx = mx; g.my = my;
  }
  /* The box changed size: a fitted view fits again, another keeps its scale. */
  function resized() { if (view.fitted) fit(); else changed(); }

  return {
    view: view, size: size, fitScale: fitScale, fit: fit, zoomAt: zoomAt, zoomCenter: zoomCenter,
    panBy: panBy, toImage: toImage, wheel: wheel, pinch: pinch, pinchMove: pinchMove, resized: resized
  };
};
