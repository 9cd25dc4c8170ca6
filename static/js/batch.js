/* Batch page: polls the small status endpoint and updates counts and items until the batch closes. */
(function () {
  "use strict";
  var root = document.getElementById("batch");
  if (!root) return;
  var url = root.getAttribute("data-status-url");
  var list = document.getElementById("items");
  var zip = document.getElementById("zip-link");

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }

  function itemStatus(item) {
    if (item.status === "failed") {
      var span = document.createElement("span");
      var strong = document.createElement("strong");
      strong.textContent = "Failed: ";
      span.appendChild(strong);
      span.appendChild(document.createTextNode((item.error_message || "could not process this image") + " (not charged)"));
      return span;
    }
    var labels = { done: "Done", running: "Removing the background…", queued: "Queued", waiting: "Waiting for credits" };
    return document.createTextNode(labels[item.status] || item.status);
  }

  function updateItem(item) {
    var li = list.querySelector('[data-id="' + item.id + '"]');
    if (!li || li.getAttribute("data-state") === item.status) return;
    li.setAttribute("data-state", item.status);
    fill(li, ".item-status", itemStatus(item));
    if (item.thumb_url) {
      var img = document.createElement("img");
      img.alt = "";
      img.src = item.thumb_url;
      fill(li, ".item-thumb", img);
    }
    if (item.url) {
      var a = document.createElement("a");
      a.className = "button small secondary";
      a.href = item.url;
      a.textContent = "View";
      fill(li, ".item-action", a);
    }
  }

  function fill(li, selector, node) {
    var holder = li.querySelector(selector);
    holder.innerHTML = "";
    holder.appendChild(node);
  }

  function apply(data) {
    text("count-done", data.done);
    text("count-failed", data.failed);
    text("count-remaining", data.remaining);
    text("count-total", data.total);
    text("count-waiting", data.waiting);
    text("waiting-count", data.waiting);
    text("waiting-plural", data.waiting === 1 ? "" : "s");
    document.getElementById("tile-waiting").hidden = !data.waiting;
    document.getElementById("waiting-notice").hidden = !data.waiting;
    if (window.cutoutCredits) window.cutoutCredits(data.credits_available);
    var total = data.total || 1;
    document.getElementById("bar-done").style.width = (100 * data.done / total) + "%";
    document.getElementById("bar-failed").style.width = (100 * data.failed / total) + "%";
    text("batch-state", data.closed ? "Finished." : data.status === "waiting" ? "Paused: the rest wait for credits." :
      data.finished ? "Packing the ZIP…" : "Working… this page updates by itself.");
    data.items.forEach(updateItem);
    if (data.zip_url && zip) {
      zip.href = data.zip_url;
      zip.hidden = false;
      zip.classList.remove("disabled");
      zip.removeAttribute("aria-disabled");
    }
    root.setAttribute("data-closed", data.closed ? "true" : "false");
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        return r.json();
      })
      .then(function (data) {
        apply(data);
        /* While paused for credits, look now and then: credits may come from another tab. */
        if (!data.closed) setTimeout(poll, data.status === "waiting" ? 5000 : 1000);
      }, function () { setTimeout(poll, 4000); });
  }

  if (root.getAttribute("data-closed") !== "true") setTimeout(poll, 500);
})();
