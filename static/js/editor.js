/* The guided editor on the result page (templates/cutout/_editor.html).
 *
 * The page's cutout is drawn on a canvas from its stored matte (RGBA, alpha = matte) over the
 * chosen preview background, with the original beside it under the before/after slider. Hints
 * are image pixels of the upright image: clicks {kind: keep|remove, x, y}, brush strokes
 * {kind, points, radius} and one box {kind: "box", box: [x0, y0, x1, y1]}. Every change sends
 * the complete hint list to the refine view; brush strokes are painted here at once (erase cuts
 * the stroke out, restore paints the original back in) so the user never waits for them.
 * Matte images are kept per hint list, so undo and redo show a list seen before at once.
 */
(function () {
  "use strict";
  var root = document.getElementById("editor"), Paint = window.CutoutPaint;
  if (!root || !Paint || !window.CutoutZoom || !window.fetch || !window.HTMLCanvasElement) return;

  var stage = document.getElementById("editor-stage");
  var canvas = document.getElementById("editor-canvas");
  var fallback = document.getElementById("result-image");
  var statusEl = document.getElementById("editor-status");
  var versionEl = document.getElementById("editor-version");
  var sizeInput = document.getElementById("brush-size");
  var sizeOut = document.getElementById("brush-size-value");
  var zoomOut = document.getElementById("zoom-value");
  var compare = document.getElementById("editor-compare");
  var ctx = canvas.getContext("2d");

  var W = 0, H = 0;                      // the image's upright size
  var original = null;                   // HTMLImageElement
  var work = document.createElement("canvas"), wctx = work.getContext("2d");
  var scratch = document.createElement("canvas");
  var hints = [], accepted = [], undoStack = [], redoStack = [];
  var mattes = {};                       // hint-list key -> {img, hints}
  var shownKey = null;                   // key of the matte under the local strokes
  var tool = "keep", spaceDown = false;
  var pointers = {}, gesture = null, hover = null;
  var busy = false, dirty = false, seq = 0;
  var MAX_MATTES = 40, MAX_POINTS = 9000;

  function key(list) { return JSON.stringify(list); }
  function say(text) { statusEl.textContent = text; }
  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  function loadImage(url) {
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.decoding = "async";
      img.onload = function () { resolve(img); };
      img.onerror = function () { reject(new Error("The image could not be loaded.")); };
      img.src = url;
    });
  }

  /* ------------------------------------------------------------------ view (static/js/zoom.js) */
  var zoom = window.CutoutZoom(stage, function () { return { w: W, h: H }; }, function () { draw(); });
  var view = zoom.view, stageSize = zoom.size, fit = zoom.fit;
  var zoomCenter = zoom.zoomCenter, panBy = zoom.panBy, toImage = zoom.toImage;
  function clamp(v, hi) { return Math.max(0, Math.min(hi, v)); }
  function resize() {
    var dpr = window.devicePixelRatio || 1, s = stageSize();
    canvas.width = Math.round(s.w * dpr);
    canvas.height = Math.round(s.h * dpr);
    zoom.resized();
  }

  /* ------------------------------------------------------------------ drawing */
  function draw() {
    if (!W) return;
    var dpr = window.devicePixelRatio || 1, s = stageSize();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    var split = s.w * Number(compare.value) / 100;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = view.s < 2;
    if (split > 0 && original) {
      ctx.save();
      ctx.beginPath(); ctx.rect(0, 0, split, s.h); ctx.clip();
      ctx.drawImage(original, view.x, view.y, W * view.s, H * view.s);
      ctx.restore();
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(split, 0, s.w - split, s.h); ctx.clip();
    ctx.drawImage(work, view.x, view.y, W * view.s, H * view.s);
    ctx.restore();
    if (split > 0) {
      ctx.fillStyle = "#fff"; ctx.fillRect(split - 1.5, 0, 3, s.h);
    }
    drawMarks(gesture && gesture.kind === "box" ? gesture : null);
    if (hover && (tool === "erase" || tool === "restore") && !gesture) {
      ctx.beginPath();
      ctx.arc(hover.sx, hover.sy, Number(sizeInput.value) / 2, 0, Math.PI * 2);
      ctx.lineWidth = 1.5; ctx.strokeStyle = "#fff"; ctx.stroke();
      ctx.setLineDash([4, 4]); ctx.strokeStyle = "#111"; ctx.stroke(); ctx.setLineDash([]);
    }
    if (stage.matches(":focus-visible")) {
      ctx.beginPath();
      ctx.moveTo(s.w / 2 - 10, s.h / 2); ctx.lineTo(s.w / 2 + 10, s.h / 2);
      ctx.moveTo(s.w / 2, s.h / 2 - 10); ctx.lineTo(s.w / 2, s.h / 2 + 10);
      ctx.lineWidth = 3; ctx.strokeStyle = "#fff"; ctx.stroke();
      ctx.lineWidth = 1.5; ctx.strokeStyle = "#4f46e5"; ctx.stroke();
    }
    zoomOut.textContent = Math.round(view.s * 100) + "%";
  }
  function drawMarks(liveBox) {
    Paint.marks(ctx, hints.concat(liveBox ? [{ kind: "box", box: liveBox.box }] : []), view);
  }
  function paintStroke(h, from) { Paint.stroke(work, scratch, original, h, from); }
  /* The working canvas for the current hints: the matte of this list if the server gave it,
     else the one of its longest known prefix with the remaining strokes painted over it. */
  function rebuild() {
    var k = key(hints), base = mattes[k], rest = [];
    if (!base) {
      for (var n = hints.length - 1; n >= 0 && !base; n--) {
        var m = mattes[key(hints.slice(0, n))];
        if (m) { base = m; rest = hints.slice(n); }
      }
    }
    if (!base) base = mattes[shownKey];
    wctx.globalCompositeOperation = "source-over";
    wctx.clearRect(0, 0, W, H);
    if (base) wctx.drawImage(base.img, 0, 0, W, H);
    shownKey = base ? key(base.hints) : null;
    rest.forEach(function (h) { if (h.points) paintStroke(h, 0); });
    draw();
  }

  /* ------------------------------------------------------------------ hints and the server */
  function pointCount(list) {
    return list.reduce(function (n, h) { return n + (h.points ? h.points.length : 0); }, 0);
  }
  function commit(next) {
    if (next.length > 100 || pointCount(next) > MAX_POINTS) {
      say("That is as many hints as one cutout takes: undo some or reset.");
      rebuild();
      return;
    }
    undoStack.push(hints);
    redoStack = [];
    hints = next;
    changed();
  }
  function changed() {
    buttons();
    rebuild();
    sync();
  }
  function buttons() {
    root.querySelector("[data-action=undo]").disabled = !undoStack.length;
    root.querySelector("[data-action=redo]").disabled = !redoStack.length;
    root.querySelector("[data-action=reset]").disabled = !hints.length;
  }
  function remember(list, img) {
    var names = Object.keys(mattes);
    if (names.length >= MAX_MATTES) delete mattes[names[1]];  // keep the first (automatic) one
    mattes[key(list)] = { img: img, hints: list };
  }
  /* Send the current list; one request at a time (changes made meanwhile go in the next one).
     A refused list (400) is taken back to the last one the server accepted; a busy server
     (429/503, or no answer) is asked again once after its Retry-After. */
  function sync(retried) {
    if (busy) { dirty = true; return; }
    busy = true; dirty = false;
    var sent = hints.slice(), mine = ++seq, wait = 0;
    root.setAttribute("aria-busy", "true");
    say("Refining…");
    fetch(root.dataset.refineUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ hints: sent })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var err = new Error((body.error && body.error.message) || "The edit failed (" + response.status + ").");
          err.status = response.status;
          err.retryAfter = Number(response.headers.get("Retry-After")) || 3;
          throw err;
        }
        return loadImage(body.matte_url).then(function (img) { remember(sent, img); return body; });
      });
    }).then(function (body) {
      accepted = sent;
      showState(body);
      if (!dirty && mine === seq) { rebuild(); say("Updated"); }
    }).catch(function (err) {
      var latest = !dirty && mine === seq;
      if (err.status === 400 && latest) {
        hints = accepted.slice(); redoStack = []; buttons(); rebuild();
        say(err.message + " That edit was taken back. Nothing was charged.");
      } else if ((!err.status || err.status === 429 || err.status === 503) && latest && !retried) {
        wait = Math.min(30, err.retryAfter || 3);
        say("The server is busy: trying again in " + wait + " s. Your edits are kept.");
      } else say(err.message + " Nothing was charged.");
    }).then(function () {
      busy = false;
      root.removeAttribute("aria-busy");
      if (dirty) sync();
      else if (wait) setTimeout(function () { if (!busy && !dirty) sync(true); }, wait * 1000);
    });
  }
  function showState(state) {
    root.dataset.version = state.version;
    var v = state.version ? "Version " + state.version + " · edits are free" : "Automatic cutout · edits are free";
    versionEl.textContent = v;
  }

  /* ------------------------------------------------------------------ pointer input */
  function activeTool(e) {
    if (spaceDown || e.button === 1) return "pan";
    return tool;
  }
  function onDown(e) {
    if (!W || (e.button !== 0 && e.button !== 1)) return;
    stage.focus({ preventScroll: true });
    stage.setPointerCapture(e.pointerId);
    pointers[e.pointerId] = toImage(e);
    var ids = Object.keys(pointers);
    if (ids.length === 2) {  // a second finger: pinch and pan, whatever the tool
      if (gesture && gesture.stroke) rebuild();
      gesture = zoom.pinch(pointers[ids[0]], pointers[ids[1]]);
      return;
    }
    if (ids.length > 2) return;
    var p = pointers[e.pointerId], t = activeTool(e);
    e.preventDefault();
    if (t === "pan") gesture = { kind: "pan", sx: p.sx, sy: p.sy };
    else if (t === "box") gesture = { kind: "box", x: p.x, y: p.y, box: [p.x, p.y, p.x, p.y] };
    else if (t === "erase" || t === "restore") {
      var r = Math.max(1, Math.round(Number(sizeInput.value) / 2 / view.s * 2) / 2);
      var stroke = { kind: t === "erase" ? "remove" : "keep", points: [pt(p)], radius: r };
      gesture = { kind: "stroke", stroke: stroke };
      paintStroke(stroke, 0); draw();
    } else gesture = { kind: "click", tool: t, p: p, moved: 0 };
  }
  function pt(p) { return [Math.round(clamp(p.x, W) * 2) / 2, Math.round(clamp(p.y, H) * 2) / 2]; }
  function onMove(e) {
    var p = toImage(e);
    hover = p;
    if (!(e.pointerId in pointers)) { if (tool === "erase" || tool === "restore") draw(); return; }
    var last = pointers[e.pointerId];
    pointers[e.pointerId] = p;
    if (!gesture) return;
    if (gesture.kind === "pinch") {
      var ids = Object.keys(pointers), a = pointers[ids[0]], b = pointers[ids[1]];
      if (a && b) zoom.pinchMove(gesture, a, b);
    } else if (gesture.kind === "pan") {
      panBy(p.sx - last.sx, p.sy - last.sy);
    } else if (gesture.kind === "box") {
      gesture.box = [Math.min(gesture.x, p.x), Math.min(gesture.y, p.y), Math.max(gesture.x, p.x), Math.max(gesture.y, p.y)];
      draw();
    } else if (gesture.kind === "stroke") {
      var s = gesture.stroke, q = pt(p), prev = s.points[s.points.length - 1];
      if (Math.hypot(q[0] - prev[0], q[1] - prev[1]) >= Math.max(1, s.radius / 3)) {
        s.points.push(q);
        paintStroke(s, s.points.length - 1);
        draw();
      }
    } else if (gesture.kind === "click") {
      gesture.moved = Math.max(gesture.moved, Math.hypot(p.sx - gesture.p.sx, p.sy - gesture.p.sy));
    }
  }
  function onUp(e) {
    if (!(e.pointerId in pointers)) return;
    delete pointers[e.pointerId];
    var g = gesture;
    if (!g) return;
    if (g.kind === "pinch") { if (!Object.keys(pointers).length) gesture = null; return; }
    gesture = null;
    if (e.type === "pointercancel") { rebuild(); return; }
    if (g.kind === "stroke") commit(hints.concat([g.stroke]));
    else if (g.kind === "box") {
      var b = [Math.round(clamp(g.box[0], W)), Math.round(clamp(g.box[1], H)), Math.round(clamp(g.box[2], W)), Math.round(clamp(g.box[3], H))];
      if (b[2] - b[0] < 4 || b[3] - b[1] < 4) { draw(); say("Drag a box around the subject."); return; }
      commit(hints.filter(function (h) { return h.kind !== "box"; }).concat([{ kind: "box", box: b }]));
    } else if (g.kind === "click" && g.moved < 8) {
      var x = Math.floor(g.p.x), y = Math.floor(g.p.y);
      if (x < 0 || y < 0 || x >= W || y >= H) { say("Click on the image."); return; }
      commit(hints.concat([{ kind: g.tool, x: x, y: y }]));
    }
  }

  /* ------------------------------------------------------------------ buttons and keys */
  function setTool(name) {
    tool = name;
    root.querySelectorAll("[data-tool]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.tool === name));
    });
    stage.dataset.tool = name;
    draw();
  }
  function undo() {
    if (!undoStack.length) return;
    redoStack.push(hints); hints = undoStack.pop(); changed();
  }
  function redo() {
    if (!redoStack.length) return;
    undoStack.push(hints); hints = redoStack.pop(); changed();
  }
  var actions = {
    "zoom-in": function () { zoomCenter(1.25); },
    "zoom-out": function () { zoomCenter(0.8); },
    "fit": fit, "undo": undo, "redo": redo,
    "reset": function () { if (hints.length) commit([]); }
  };
  function showSize() { sizeOut.textContent = sizeInput.value + " px"; draw(); }
  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName)) && t.type !== "range";
  }
  /* Keyboard clicks: Enter places the chosen click at the crosshair in the stage's centre (move
     the image under it with the arrow keys, zoom with + and -). */
  function clickAtCentre() {
    var s = stageSize(), x = Math.floor((s.w / 2 - view.x) / view.s), y = Math.floor((s.h / 2 - view.y) / view.s);
    if (tool !== "keep" && tool !== "remove") { say("Enter clicks with Keep or Remove (K or X)."); return; }
    if (x < 0 || y < 0 || x >= W || y >= H) { say("Move the image under the crosshair first."); return; }
    commit(hints.concat([{ kind: tool, x: x, y: y }]));
  }
  var keyTools = { k: "keep", x: "remove", b: "box", r: "restore", e: "erase", h: "pan" };
  function onKey(e) {
    if (typing(e) || e.altKey) return;
    var k = e.key, mod = e.ctrlKey || e.metaKey;
    if (mod && (k === "z" || k === "Z")) { e.preventDefault(); if (e.shiftKey) redo(); else undo(); return; }
    if (mod && (k === "y" || k === "Y")) { e.preventDefault(); redo(); return; }
    if (mod) return;
    var onStage = document.activeElement === stage;
    if (k === "+" || k === "=") zoomCenter(1.25);
    else if (k === "-" || k === "_") zoomCenter(0.8);
    else if (k === "0") fit();
    else if (k === "[" || k === "]") {
      sizeInput.value = String(Number(sizeInput.value) + (k === "]" ? 8 : -8)); showSize();
    } else if (keyTools[k.toLowerCase()] && e.target.type !== "range") setTool(keyTools[k.toLowerCase()]);
    else if (k === " " && onStage) { spaceDown = true; }
    else if (k === "Enter" && onStage) clickAtCentre();
    else if (k.indexOf("Arrow") === 0 && onStage) {
      var step = 0.1 * stageSize().w;
      panBy(k === "ArrowLeft" ? step : k === "ArrowRight" ? -step : 0, k === "ArrowUp" ? step : k === "ArrowDown" ? -step : 0);
    } else return;
    e.preventDefault();
  }

  function wire() {
    stage.addEventListener("pointerdown", onDown);
    stage.addEventListener("pointermove", onMove);
    stage.addEventListener("pointerup", onUp);
    stage.addEventListener("pointercancel", onUp);
    stage.addEventListener("pointerleave", function () { hover = null; draw(); });
    stage.addEventListener("wheel", zoom.wheel, { passive: false });
    stage.addEventListener("focus", draw);
    stage.addEventListener("blur", draw);
    document.addEventListener("keydown", onKey);
    document.addEventListener("keyup", function (e) { if (e.key === " ") spaceDown = false; });
    root.querySelectorAll("[data-tool]").forEach(function (b) {
      b.addEventListener("click", function () { setTool(b.dataset.tool); });
    });
    root.querySelectorAll("[data-action]").forEach(function (b) {
      b.addEventListener("click", function () { actions[b.dataset.action](); });
    });
    sizeInput.addEventListener("input", showSize);
    compare.addEventListener("input", function () {
      compare.setAttribute("aria-valuetext", compare.value + "% original");
      draw();
    });
    root.querySelectorAll(".editor-bg [data-bg]").forEach(function (b) {
      b.addEventListener("click", function () {
        root.querySelectorAll(".editor-bg [data-bg]").forEach(function (o) { o.setAttribute("aria-pressed", "false"); });
        b.setAttribute("aria-pressed", "true");
        stage.classList.remove("checker", "bg-white", "bg-dark");
        stage.classList.add(b.dataset.bg === "checker" ? "checker" : "bg-" + b.dataset.bg);
      });
    });
    if (window.ResizeObserver) new ResizeObserver(resize).observe(stage);
    else window.addEventListener("resize", resize);
  }

  function start(state) {
    if (!state.editable || !state.matte_url || !state.original_url) {
      say(state.editable ? "This cutout cannot be edited." : "Editing is over for this cutout (its original is no longer kept).");
      root.classList.add("editor-off");
      return null;
    }
    W = state.width; H = state.height;
    work.width = W; work.height = H;
    hints = state.hints || [];
    accepted = hints;
    showState(state);
    return Promise.all([loadImage(state.original_url), loadImage(state.matte_url)]).then(function (imgs) {
      original = imgs[0];
      remember(hints, imgs[1]);
      canvas.hidden = false;
      fallback.hidden = true;
      root.classList.add("editor-ready");
      wire();
      setTool("keep");
      buttons();
      resize();
      rebuild();
      say("Ready: click Keep or Remove on the image, or paint with a brush.");
    });
  }

  fetch(root.dataset.stateUrl, { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) throw new Error("The editor could not load (" + r.status + ")."); return r.json(); })
    .then(start)
    .catch(function (err) { say(err.message); root.classList.add("editor-off"); });
})();
