/* The upload page's checks of a file before it is sent, against the server's limits (the JSON
   of #upload-limits), and the small preview of it kept in this tab for the result page's compare
   slider. Used by static/js/upload.js. No dependencies. */
window.CutoutUploadChecks = function (limits) {
  "use strict";
  var PREVIEW_SIDE = 1400;

  function formatBytes(n) {
    if (n >= 1024 * 1024) return (n / (1024 * 1024)).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " bytes";
  }

  function extension(name) {
    var i = (name || "").lastIndexOf(".");
    return i < 0 ? "" : name.slice(i).toLowerCase();
  }

  function isZip(file) {
    return extension(file.name) === ".zip" || file.type === "application/zip" ||
      file.type === "application/x-zip-compressed";
  }

  function checkFile(file) {
    if (isZip(file)) return null;
    var known = limits.types.indexOf(file.type) >= 0 || limits.extensions.indexOf(extension(file.name)) >= 0;
    if (!known) {
      return {
        code: "unsupported_file",
        title: "Unsupported file",
        message: "Cutout reads JPG, PNG, WebP, AVIF, GIF, BMP and TIFF images" +
          (file.type ? ", not " + file.type + "." : ".") + " Nothing was uploaded or charged."
      };
    }
    if (file.size > limits.max_bytes) {
      return {
        code: "file_too_big",
        title: "File too big",
        message: formatBytes(file.size) + " is over the " + limits.max_mb + " MB limit per image. " +
          "Nothing was uploaded or charged."
      };
    }
    if (file.size === 0) {
      return { code: "unsupported_file", title: "Empty file", message: "This file is empty." };
    }
    return null;
  }

  /* Width x height against the pixel limit, where the browser can decode the image. */
  function checkPixels(file) {
    if (isZip(file) || !window.createImageBitmap || file.size > limits.max_bytes) {
      return Promise.resolve(null);
    }
    return createImageBitmap(file).then(function (bitmap) {
      var pixels = bitmap.width * bitmap.height;
      bitmap.close();
      if (pixels > limits.max_pixels) {
        return {
          code: "file_too_big",
          title: "Image too large",
          message: (pixels / 1e6).toFixed(1) + " megapixels is over the " + limits.max_megapixels +
            " megapixel limit. Scale it down and try again. Nothing was charged."
        };
      }
      return null;
    }, function () { return null; }); /* the server decides for formats the browser cannot read */
  }

  /* A small JPEG of what was uploaded, kept in this tab for the result page's compare slider
     (the server does not keep originals unless the workspace asks it to). */
  function makePreview(file) {
    if (!window.createImageBitmap || isZip(file)) return Promise.resolve(null);
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, PREVIEW_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      return canvas.toDataURL("image/jpeg", 0.86);
    }, function () { return null; });
  }

  function keepPreview(cutoutId, dataUrl) {
    if (!dataUrl || !window.sessionStorage) return;
    var key = "cutout-before:" + cutoutId;
    try {
      sessionStorage.setItem(key, dataUrl);
    } catch (e) {
      /* Full: forget older previews and try once more. */
      for (var i = sessionStorage.length - 1; i >= 0; i--) {
        var k = sessionStorage.key(i);
        if (k && k.indexOf("cutout-before:") === 0) sessionStorage.removeItem(k);
      }
      try { sessionStorage.setItem(key, dataUrl); } catch (e2) { /* no preview then */ }
    }
  }

  return {
    formatBytes: formatBytes, isZip: isZip, checkFile: checkFile, checkPixels: checkPixels,
    makePreview: makePreview, keepPreview: keepPreview
  };
};
