// aof dashboard: live refresh on server-sent events, and action errors shown in the page.
// Elements with data-live="*" (any task) or data-live="<task id>" are sent "aof:changed"
// when /api/events reports a change to that task; their hx-trigger debounces it
// ("aof:changed delay:300ms") and fetches the fragment. Nothing here polls.
(function () {
  "use strict";

  function changed(kind, data) {
    var id = data && (data.id || data.task);
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var want = el.getAttribute("data-live");
      var only = el.getAttribute("data-live-kind");
      if (only && only !== kind) return;
      if (want === "*" || (id && want === id)) htmx.trigger(el, "aof:changed");
    });
  }

  function listen(source) {
    ["task", "audit"].forEach(function (kind) {
      source.addEventListener(kind, function (ev) {
        var data = null;
        try { data = JSON.parse(ev.data); } catch (e) { /* a malformed event: refresh all */ }
        changed(kind, data);
      });
    });
    source.addEventListener("reset", function () { window.location.reload(); });
  }

  document.addEventListener("htmx:sseOpen", function (e) {
    listen(e.detail.source);
    var live = document.getElementById("live");
    if (live) live.classList.add("on");
  });
  document.addEventListener("htmx:sseError", function () {
    var live = document.getElementById("live");
    if (live) live.classList.remove("on");
  });

  // An action's answer: a JSON error shown beside the form (nothing changed), or done.
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!form || !form.matches || !form.matches("form[data-action]")) return;
    var box = form.closest(".actions");
    var err = box && box.querySelector(".error");
    var ok = box && box.querySelector(".ok");
    if (e.detail.successful) {
      if (err) err.hidden = true;
      if (ok) { ok.textContent = "Done: " + form.getAttribute("data-action"); ok.hidden = false; }
      changed("task", null);
      return;
    }
    var message = "The request failed";
    var xhr = e.detail.xhr;
    if (xhr && xhr.status) {
      message += " (" + xhr.status + ")";
      try {
        var body = JSON.parse(xhr.responseText);
        if (body && body.message) message = body.message;
      } catch (x) { /* not JSON: keep the status */ }
    } else {
      message = "The server did not answer";
    }
    if (ok) ok.hidden = true;
    if (err) { err.textContent = message; err.hidden = false; }
  });
})();
