/* Drawing for the guided editor (static/js/editor.js): brush strokes painted exactly as the server
 * honours them, and the marks of clicks and the box. Pure functions of their arguments. */
window.CutoutPaint = (function () {
  "use strict";
  function clamp(v, hi) { return Math.max(0, Math.min(hi, v)); }
  function path(c, pts, r, dx, dy) {
    c.lineCap = "round"; c.lineJoin = "round"; c.lineWidth = r * 2;
    c.beginPath();
    c.moveTo(pts[0][0] - dx, pts[0][1] - dy);
    for (var i = 1; i < pts.length; i++) c.lineTo(pts[i][0] - dx, pts[i][1] - dy);
    if (pts.length === 1) c.lineTo(pts[0][0] - dx + 0.01, pts[0][1] - dy);
    c.strokeStyle = "#000"; c.stroke();
  }
  /* Paint stroke ``h`` ({kind, points, radius}, image pixels) from its point ``from`` on onto
     ``work`` (the image-sized working canvas): every pixel within radius of the polyline is cut
     out (remove) or painted back from ``original`` (keep). ``scratch`` is a reusable canvas. */
  function stroke(work, scratch, original, h, from) {
    var W = work.width, H = work.height, wctx = work.getContext("2d");
    var pts = h.points.slice(Math.max(0, from - 1)), r = h.radius, pad = r + 2;
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    pts.forEach(function (p) {
      x0 = Math.min(x0, p[0]); y0 = Math.min(y0, p[1]); x1 = Math.max(x1, p[0]); y1 = Math.max(y1, p[1]);
    });
    x0 = Math.floor(clamp(x0 - pad, W)); y0 = Math.floor(clamp(y0 - pad, H));
    x1 = Math.ceil(clamp(x1 + pad, W)); y1 = Math.ceil(clamp(y1 + pad, H));
    if (x1 <= x0 || y1 <= y0) return;
    wctx.save(); wctx.globalCompositeOperation = "destination-out"; path(wctx, pts, r, 0, 0); wctx.restore();
    if (h.kind === "remove") return;
    var w = x1 - x0, hh = y1 - y0, sctx = scratch.getContext("2d");
    if (scratch.width < w || scratch.height < hh) {
      scratch.width = Math.max(w, scratch.width); scratch.height = Math.max(hh, scratch.height);
    }
    sctx.globalCompositeOperation = "source-over";
    sctx.clearRect(0, 0, scratch.width, scratch.height);
    path(sctx, pts, r, x0, y0);
    sctx.globalCompositeOperation = "source-in";
    sctx.drawImage(original, -x0, -y0, W, H);
    wctx.drawImage(scratch, 0, 0, w, hh, x0, y0, w, hh);
  }
  /* Marks for the clicks (green plus, red minus) and the box of ``list``, in the screen space
     of ``view`` ({s, x, y}: screen = view.x + image * view.s). Strokes show in the image itself. */
  function marks(ctx, list, view) {
    function sx(x) { return view.x + x * view.s; }
    function sy(y) { return view.y + y * view.s; }
    list.forEach(function (h) {
      if (h.kind === "box") {
        var b = h.box;
        ctx.lineWidth = 2; ctx.setLineDash([7, 5]); ctx.strokeStyle = "#4f46e5";
        ctx.strokeRect(sx(b[0]), sy(b[1]), (b[2] - b[0]) * view.s, (b[3] - b[1]) * view.s);
        ctx.setLineDash([]);
      } else if (h.points === undefined) {
        var keep = h.kind === "keep", x = sx(h.x + 0.5), y = sy(h.y + 0.5);
        ctx.beginPath(); ctx.arc(x, y, 9, 0, Math.PI * 2);
        ctx.fillStyle = keep ? "#0f8a5f" : "#c0262d"; ctx.fill();
        ctx.lineWidth = 2; ctx.strokeStyle = "#fff"; ctx.stroke();
        ctx.beginPath(); ctx.moveTo(x - 4.5, y); ctx.lineTo(x + 4.5, y);
        if (keep) { ctx.moveTo(x, y - 4.5); ctx.lineTo(x, y + 4.5); }
        ctx.stroke();
      }
    });
  }
  return { stroke: stroke, marks: marks };
})();
