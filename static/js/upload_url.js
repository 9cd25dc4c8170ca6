/* Upload page: an image URL instead of a file. The server fetches it behind the same address
   guard as the API's image_url, then makes the cutout as for an upload. Uses upload.js's rows. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var field = document.getElementById("image-url");
  var up = window.cutoutUpload;
  if (!form || !field || !up) return;
  form.addEventListener("submit", function (e) {
    var url = field.value.trim();
    if (!url) return;
    e.preventDefault();
    if (up.isBusy()) return;
    var queue = document.getElementById("queue");
    queue.innerHTML = "";
    var row = new up.Row(url.replace(/^https?:\/\//, "").slice(0, 80), null);
    if (!/^https?:\/\/./i.test(url)) {
      row.fail({ code: "invalid_url", title: "Not a web address", message: "Paste an address that starts with http:// or https://. Nothing was charged." });
      return;
    }
    up.setBusy(true);
    row.set("processing", "Fetching the image and removing the background…", null);
    up.send([], function () {}, function (status, body) {
      up.setBusy(false);
      if (status === 201 && body && body.kind === "cutout") {
        row.set("done", "Done — opening the result…", 100);
        up.spend(body.credits_charged);
        window.location.href = body.url;
        return;
      }
      row.fail(up.problemFrom(status, body));
    }, { url: url });
  });
})();
