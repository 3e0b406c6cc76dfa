// Starts Swagger UI from a file of the service's own rather than from an
// inline script, so the page's Content-Security-Policy can refuse every inline
// script. The page puts its URLs on #swagger-ui (they carry the root path).
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // A token lives only as long as the page: never written to localStorage.
    persistAuthorization: false,
    // The public validator's badge would be an image from another host.
    validatorUrl: null,
    oauth2RedirectUrl: new URL(root.dataset.oauth2RedirectUrl, window.location.href).href,
  });
})();
