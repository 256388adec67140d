// Starts Swagger UI on /v1/docs from the spec named in the page (no inline script).
window.addEventListener("load", function () {
  var here = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: here.dataset.spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
