/* Upload page: file picker, drag and drop, paste; checks against the server's limits before
   sending; per-file upload and processing progress. One image makes a cutout, several a batch.
   No dependencies. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.CutoutUploadChecks) return;
  var limits = JSON.parse(document.getElementById("upload-limits").textContent);
  var input = document.getElementById("file-input");
  var queue = document.getElementById("queue");
  var template = document.getElementById("queue-item");
  var overlay = document.getElementById("drop-overlay");
  var problemBox = document.getElementById("client-problem");
  var busy = false;
  var BATCH_PREVIEWS = 12;

  var checks = window.CutoutUploadChecks(limits);  /* static/js/upload-checks.js */
  var formatBytes = checks.formatBytes, isZip = checks.isZip, checkFile = checks.checkFile;
  var checkPixels = checks.checkPixels, makePreview = checks.makePreview, keepPreview = checks.keepPreview;

  function showProblem(title, message) {
    problemBox.innerHTML = "";
    var h = document.createElement("h2");
    h.textContent = title;
    var p = document.createElement("p");
    p.textContent = message;
    problemBox.appendChild(h);
    problemBox.appendChild(p);
    problemBox.hidden = false;
  }

  function hideProblem() {
    problemBox.hidden = true;
    var serverProblem = document.getElementById("upload-problem");
    if (serverProblem) serverProblem.hidden = true;
  }

  function Row(name, file) {
    var el = template.content.firstElementChild.cloneNode(true);
    this.el = el;
    this.status = el.querySelector(".queue-status");
    this.bar = el.querySelector("progress");
    this.action = el.querySelector(".queue-action");
    this.img = el.querySelector(".queue-thumb img");
    el.querySelector(".queue-name").textContent = name + (file ? " · " + formatBytes(file.size) : "");
    if (file && !isZip(file) && /^image\//.test(file.type) && file.size <= limits.max_bytes) {
      var img = this.img;
      img.onerror = function () { img.hidden = true; };
      this.img.src = URL.createObjectURL(file);
      this.img.hidden = false;
    }
    queue.appendChild(el);
  }
  Row.prototype.set = function (state, text, percent) {
    this.el.setAttribute("data-state", state);
    this.status.textContent = text;
    if (percent === null) this.bar.removeAttribute("value");
    else this.bar.value = percent;
  };
  Row.prototype.fail = function (problem) {
    this.set("failed", "", 100);
    this.status.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = problem.title + ": ";
    this.status.appendChild(strong);
    this.status.appendChild(document.createTextNode(problem.message));
    this.el.setAttribute("data-code", problem.code || "");
    this.action.innerHTML = "";
    if (problem.action_url) {
      var a = document.createElement("a");
      a.className = "button small";
      a.href = problem.action_url;
      a.textContent = problem.action_label || "Open";
      this.action.appendChild(a);
    }
  };
  Row.prototype.done = function (url, thumbUrl) {
    this.set("done", "Done", 100);
    if (thumbUrl) {
      this.img.src = thumbUrl;
      this.img.hidden = false;
    }
    if (url) {
      this.action.innerHTML = "";
      var a = document.createElement("a");
      a.className = "button small secondary";
      a.href = url;
      a.textContent = "View";
      this.action.appendChild(a);
    }
  };

  function problemFrom(status, body) {
    if (body && body.error) return body.error;
    if (status === 413) {
      return { code: "file_too_big", title: "Upload too big", message: "The server refused the upload as too large. Nothing was charged." };
    }
    if (status === 0) {
      return { code: "network", title: "Connection lost", message: "The upload did not reach the server. Check your connection and try again. Nothing was charged." };
    }
    return { code: "processing_failed", title: "Processing failed", message: "Something went wrong (" + status + "). You were not charged; please try again." };
  }

  function send(files, onUpload, onDone, extra) {
    var data = new FormData();
    new FormData(form).forEach(function (value, key) {
      if (key !== "image" && key !== "url") data.append(key, value);
    });
    Object.keys(extra || {}).forEach(function (key) { data.append(key, extra[key]); });
    files.forEach(function (f) { data.append("image", f, f.name || "pasted-image.png"); });
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) onUpload(e.loaded, e.total, false);
    };
    xhr.upload.onload = function () { onUpload(1, 1, true); };
    xhr.onload = function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      onDone(xhr.status, body);
    };
    xhr.onerror = function () { onDone(0, null); };
    xhr.send(data);
  }

  /* The credit count in the top bar, lowered by what an upload was charged. */
  function spend(credits) {
    var el = document.getElementById("credits-available");
    if (el && credits && window.cutoutCredits) window.cutoutCredits(parseInt(el.textContent, 10) - credits);
  }

  function uploadOne(file, row) {
    busy = true;
    var preview = makePreview(file);
    row.set("uploading", "Uploading 0%", 0);
    send([file], function (loaded, total, finished) {
      if (finished) row.set("processing", "Removing the background…", null);
      else row.set("uploading", "Uploading " + Math.round((100 * loaded) / total) + "%", Math.round((90 * loaded) / total));
    }, function (status, body) {
      busy = false;
      if (status === 201 && body && body.kind === "cutout") {
        row.set("done", "Done — opening the result…", 100);
        spend(body.credits_charged);
        var go = function () { window.location.href = body.url; };
        var timer = setTimeout(go, 2500);
        preview.then(function (dataUrl) {
          clearTimeout(timer);
          keepPreview(body.id, dataUrl);
          go();
        });
        return;
      }
      row.fail(problemFrom(status, body));
    });
  }

  function summary() {
    var box = document.getElementById("batch-summary");
    if (!box) {
      box = document.createElement("div");
      box.id = "batch-summary";
      box.className = "batch-summary";
      box.setAttribute("role", "status");
      queue.parentNode.insertBefore(box, queue);
    }
    return box;
  }

  function renderSummary(data, url) {
    var box = summary();
    box.innerHTML = "";
    var text = document.createElement("p");
    var parts = [data.done + " done", data.failed + " failed", data.remaining + " remaining"];
    if (data.waiting) parts.push(data.waiting + " waiting for credits");
    text.innerHTML = "";
    var strong = document.createElement("strong");
    strong.textContent = data.status === "waiting" ? "Batch paused for credits: " :
      data.finished ? "Batch finished: " : "Batch in progress: ";
    text.appendChild(strong);
    text.appendChild(document.createTextNode(parts.join(" · ") + " of " + data.total));
    box.appendChild(text);
    var links = document.createElement("p");
    links.className = "batch-links";
    var open = document.createElement("a");
    open.href = url;
    open.className = "button small secondary";
    open.textContent = "Open batch page";
    links.appendChild(open);
    if (data.zip_url) {
      var zip = document.createElement("a");
      zip.href = data.zip_url;
      zip.className = "button small";
      zip.textContent = "Download ZIP";
      links.appendChild(zip);
    }
    box.appendChild(links);
  }

  function itemState(row, item) {
    if (item.status === "done") row.done(item.url, item.thumb_url);
    else if (item.status === "failed") {
      row.fail({
        code: item.error_code,
        title: "Failed",
        message: (item.error_message || "Could not process this image.") + " Not charged."
      });
    } else if (item.status === "running") row.set("processing", "Removing the background…", null);
    else if (item.status === "waiting") row.set("waiting", "Waiting for credits", 0);
    else row.set("queued", "Uploaded · queued", 0);
  }

  /* A batch bigger than the credits: say both figures and offer to run what they cover. */
  function offerPartial(problem, files, rows) {
    var box = summary();
    box.innerHTML = "";
    box.className = "batch-summary offer";
    var h = document.createElement("h2");
    h.textContent = problem.title;
    var p = document.createElement("p");
    p.textContent = problem.message;
    var links = document.createElement("p");
    links.className = "batch-links";
    var go = document.createElement("button");
    go.type = "button";
    go.className = "button small";
    go.id = "process-partial";
    go.textContent = problem.offer.label;
    go.addEventListener("click", function () {
      box.remove();
      uploadBatch(files, rows, true);
    });
    links.appendChild(go);
    if (problem.action_url) {
      var buy = document.createElement("a");
      buy.className = "button small secondary";
      buy.href = problem.action_url;
      buy.textContent = problem.action_label || "Buy credits";
      links.appendChild(buy);
    }
    box.appendChild(h);
    box.appendChild(p);
    box.appendChild(links);
    rows.forEach(function (r) { r.set("waiting", "Not sent: not enough credits", 0); });
  }

  function uploadBatch(files, rows, partial) {
    busy = true;
    var sizes = files.map(function (f) { return f.size; });
    var sum = sizes.reduce(function (a, b) { return a + b; }, 0) || 1;
    var previews = files.length <= BATCH_PREVIEWS ? files.map(makePreview) : [];
    rows.forEach(function (r) { r.set("uploading", "Waiting to upload", 0); });
    send(files, function (loaded, total, finished) {
      var sent = finished ? sum : (loaded / total) * sum;
      var start = 0;
      rows.forEach(function (row, i) {
        var part = Math.max(0, Math.min(1, (sent - start) / (sizes[i] || 1)));
        start += sizes[i];
        if (part >= 1) row.set("uploaded", finished ? "Uploaded · queued" : "Uploaded", 100);
        else if (part > 0) row.set("uploading", "Uploading " + Math.round(part * 100) + "%", Math.round(part * 100));
      });
    }, function (status, body) {
      if (!(status === 201 && body && body.kind === "batch")) {
        busy = false;
        var problem = problemFrom(status, body);
        if (problem.offer && !partial) { offerPartial(problem, files, rows); return; }
        rows.forEach(function (r) { r.fail(problem); });
        return;
      }
      /* A ZIP turns into its own list of items. */
      if (rows.length !== body.items.length) {
        queue.innerHTML = "";
        rows = body.items.map(function (item) { return new Row(item.name, null); });
      }
      var stored = {};
      function apply(data) {
        data.items.forEach(function (item, i) {
          var row = rows[i];
          if (!row) return;
          itemState(row, item);
          if (item.status === "done" && previews[i] && !stored[i] && item.url) {
            stored[i] = true;
            var id = item.url.split("/").filter(Boolean).pop();
            previews[i].then(function (dataUrl) { keepPreview(id, dataUrl); });
          }
        });
        renderSummary(data, body.url);
        if (window.cutoutCredits) window.cutoutCredits(data.credits_available);
      }
      apply(body);
      /* Closed, or paused for credits (the batch page follows it from there): done here. */
      var over = function (data) { return data.closed || data.status === "waiting"; };
      if (over(body)) { busy = false; return; }
      var poll = function () {
        fetch(body.status_url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (data) {
            apply(data);
            if (over(data)) busy = false;
            else setTimeout(poll, 1000);
          }, function () { setTimeout(poll, 3000); });
      };
      setTimeout(poll, 700);
    }, partial ? { partial: "1" } : null);
  }

  /* What upload_url.js (an image URL instead of a file) uses too. */
  window.cutoutUpload = { Row: Row, send: send, problemFrom: problemFrom, spend: spend,
    isBusy: function () { return busy; }, setBusy: function (b) { busy = b; } };

  function handleFiles(list) {
    hideProblem();
    var files = Array.prototype.slice.call(list || []);
    if (!files.length) return;
    if (busy) {
      showProblem("Still working", "Wait for the current upload to finish, then add more.");
      return;
    }
    var zips = files.filter(isZip);
    if (zips.length && files.length > 1) {
      showProblem("One ZIP at a time", "Upload a ZIP on its own, or choose the images themselves.");
      return;
    }
    if (files.length > limits.max_files) {
      showProblem("Too many files", "A batch takes at most " + limits.max_files + " files; you chose " +
        files.length + ". Upload them in parts, or as one ZIP.");
      return;
    }
    queue.innerHTML = "";
    var old = document.getElementById("batch-summary");
    if (old) old.remove();
    var rows = files.map(function (f) { return new Row(f.name || "Pasted image", f); });
    Promise.all(files.map(checkPixels)).then(function (pixelProblems) {
      var good = [], goodRows = [];
      files.forEach(function (f, i) {
        var problem = checkFile(f) || pixelProblems[i];
        if (problem) rows[i].fail(problem);
        else { good.push(f); goodRows.push(rows[i]); }
      });
      if (!good.length) return;
      if (good.length === 1 && !isZip(good[0])) uploadOne(good[0], goodRows[0]);
      else uploadBatch(good, goodRows);
    });
  }

  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files || []);
    input.value = "";
    handleFiles(files);
  });

  /* Drag and drop anywhere on the page. */
  var depth = 0;
  function hasFiles(e) {
    return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], "Files") >= 0;
  }
  document.addEventListener("dragenter", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  document.addEventListener("dragover", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("dragleave", function (e) {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener("drop", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    handleFiles(e.dataTransfer.files);
  });

  /* Paste an image (a screenshot, a copied picture). */
  document.addEventListener("paste", function (e) {
    var items = (e.clipboardData && e.clipboardData.items) || [];
    var files = [];
    for (var i = 0; i < items.length; i++) {
      if (items[i].kind === "file") {
        var f = items[i].getAsFile();
        if (f) files.push(f);
      }
    }
    if (files.length) {
      e.preventDefault();
      handleFiles(files);
    }
  });
})();
