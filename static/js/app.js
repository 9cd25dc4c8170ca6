/* Small helpers shared by pages: confirmations and "select all" boxes. */
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) e.preventDefault();
  });
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    var scope = document.querySelector(box.getAttribute("data-select-all"));
    var update = function () {
      var boxes = scope.querySelectorAll('input[type="checkbox"]');
      var checked = scope.querySelectorAll('input[type="checkbox"]:checked').length;
      var count = document.getElementById("selected-count");
      if (count) count.textContent = checked ? checked + " selected" : "";
      box.checked = checked > 0 && checked === boxes.length;
      box.indeterminate = checked > 0 && checked < boxes.length;
    };
    box.addEventListener("change", function () {
      scope.querySelectorAll('input[type="checkbox"]').forEach(function (c) { c.checked = box.checked; });
      update();
    });
    scope.addEventListener("change", update);
  });
})();
