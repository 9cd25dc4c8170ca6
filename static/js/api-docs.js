// /api/docs: Swagger UI (our static copy) drawing the OpenAPI document named by #swagger-ui.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    domNode: root,
    url: root.getAttribute("data-spec"),
    layout: "BaseLayout",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: -1, // the schemas show under each operation
    filter: true,
    displayRequestDuration: true,
    validatorUrl: null, // its badge would ask a server elsewhere
    syntaxHighlight: { activated: true, theme: "agate" },
    onComplete: function () { root.setAttribute("data-ready", "true"); },
  });
})();
