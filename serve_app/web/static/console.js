// pixelray console: small behaviours htmx does not cover. No framework, no build step.
(function () {
  "use strict";

  // Copy buttons: data-copy="#selector" of an input.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    field.select();
    var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // Elapsed time next to the progress bar while a generation runs.
  var timers = new WeakMap();
  document.addEventListener("htmx:beforeRequest", function (event) {
    var flash = document.getElementById("flash");
    if (flash) flash.innerHTML = "";
    var indicator = event.detail.elt.querySelector("[data-progress]");
    if (!indicator) return;
    var elapsed = indicator.querySelector(".elapsed");
    var started = Date.now();
    elapsed.textContent = "0.0";
    timers.set(indicator, setInterval(function () {
      elapsed.textContent = ((Date.now() - started) / 1000).toFixed(1);
    }, 100));
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var indicator = event.detail.elt.querySelector("[data-progress]");
    if (indicator && timers.has(indicator)) { clearInterval(timers.get(indicator)); timers.delete(indicator); }
  });

  // Playground: only offer what the chosen model takes.
  function syncModel() {
    var select = document.getElementById("model");
    if (!select) return;
    var option = select.options[select.selectedIndex];
    var negative = document.getElementById("negative-prompt");
    var takesNegative = option.dataset.negative === "yes";
    negative.disabled = !takesNegative;
    negative.placeholder = takesNegative ? "what to keep out" : "this model takes no negative prompt";
    var inpaints = option.dataset.inpaint === "yes";
    document.getElementById("img2img").disabled = option.dataset.img2img !== "yes" && !inpaints;
    document.getElementById("mask").disabled = !inpaints;
    // Only the chosen model's adapters are sent: disabled inputs stay out of the form.
    var anyAdapters = false;
    document.querySelectorAll("#adapters .adapters").forEach(function (group) {
      var mine = group.dataset.model === option.value;
      anyAdapters = anyAdapters || mine;
      group.hidden = !mine;
      group.querySelectorAll("input").forEach(function (input) { input.disabled = !mine; });
    });
    document.getElementById("adapters").hidden = !anyAdapters;
    var count = document.querySelector("input[name=count]");
    count.max = option.dataset.maxCount;
    document.querySelectorAll("input[name=width], input[name=height]").forEach(function (input) {
      input.min = option.dataset.min;
      input.max = option.dataset.max;
    });
    document.getElementById("steps").placeholder = "model default (" + option.dataset.steps + ")";
  }
  function syncSize() {
    var ratio = document.getElementById("aspect-ratio");
    if (!ratio) return;
    document.querySelectorAll("input[name=width], input[name=height]").forEach(function (input) {
      input.disabled = ratio.value !== "";
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.id === "model") syncModel();
    if (event.target.id === "aspect-ratio") syncSize();
  });

  // Playground runs: the form is posted with fetch and the response read as it streams
  // (Server-Sent Events): a progress bar by denoising step, the previews as they come, then the
  // result fragment, swapped in by htmx like any other. EventSource cannot do this: it only GETs.
  function csrfToken() {
    var headers = document.body.getAttribute("hx-headers");
    return headers ? JSON.parse(headers)["X-CSRF-Token"] : "";
  }

  function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          var name = "message", data = "";
          buffer.slice(0, end).split("\n").forEach(function (line) {
            if (line.indexOf("event: ") === 0) name = line.slice(7);
            if (line.indexOf("data: ") === 0) data += line.slice(6);
          });
          buffer = buffer.slice(end + 2);
          onEvent(name, JSON.parse(data));
        }
        return pump();
      });
    }
    return pump();
  }

  function showPreviews(target) {
    var card = document.createElement("div");
    card.className = "card result previews";
    var note = document.createElement("p");
    note.className = "muted";
    note.textContent = "Waiting for the model…";
    var thumbs = document.createElement("div");
    thumbs.className = "thumbs large";
    card.append(note, thumbs);
    target.replaceChildren(card);
    var images = {};
    return function (event) {
      note.textContent = "Step " + event.step + " of " + event.total + (event.preview ? "" : "…");
      if (!event.preview) return;
      if (!images[event.image]) {
        images[event.image] = document.createElement("img");
        images[event.image].className = "preview";
        images[event.image].alt = "preview of image " + (event.image + 1);
        thumbs.append(images[event.image]);
      }
      images[event.image].src = event.preview;
    };
  }

  function streamRun(form) {
    var target = document.querySelector(form.dataset.target);
    var flash = document.getElementById("flash");
    var indicator = form.querySelector("[data-progress]");
    var bar = indicator.querySelector(".bar");
    var counter = indicator.querySelector(".steps");
    var button = form.querySelector("button[type=submit]");
    var elapsed = indicator.querySelector(".elapsed");
    var started = Date.now();
    var timer = setInterval(function () { elapsed.textContent = ((Date.now() - started) / 1000).toFixed(1); }, 100);
    var steps = {};
    flash.innerHTML = "";
    counter.textContent = "";
    bar.classList.remove("by-step");
    indicator.classList.add("running");
    button.disabled = true;
    var preview = showPreviews(target);
    var swap = function (selector, html, style) { htmx.swap(selector, html, { swapStyle: style || "innerHTML" }); };
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "text/event-stream", "HX-Request": "true", "X-CSRF-Token": csrfToken() },
    }).then(function (response) {
      if (response.headers.get("HX-Redirect")) { window.location.href = response.headers.get("HX-Redirect"); return; }
      if (!response.ok || (response.headers.get("Content-Type") || "").indexOf("text/event-stream") !== 0) {
        target.replaceChildren();
        return response.text().then(function (html) {
          swap(response.headers.get("HX-Retarget") || form.dataset.target, html, response.headers.get("HX-Reswap"));
        });
      }
      return readEvents(response, function (name, data) {
        if (name === "progress") {
          steps[data.image] = data;
          var done = 0, total = 0;
          Object.keys(steps).forEach(function (key) { done += steps[key].step; total += steps[key].total; });
          bar.classList.add("by-step");
          bar.firstElementChild.style.width = Math.round(100 * done / total) + "%";
          counter.textContent = "step " + data.step + " of " + data.total + " · ";
          preview(data);
        } else if (name === "result") {
          swap(form.dataset.target, data.html);
        } else if (name === "error") {
          target.replaceChildren();
          swap("#flash", data.html);
        }
      });
    }).catch(function () {
      flash.textContent = "The connection to the server was lost; reload the page and check the gallery.";
    }).finally(function () {
      clearInterval(timer);
      indicator.classList.remove("running");
      button.disabled = false;
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-stream]");
    if (!form || typeof fetch === "undefined" || !window.ReadableStream) return;
    event.preventDefault();
    streamRun(form);
  });

  // Usage chart: images (bars) and credits (line) per day.
  function drawChart() {
    var canvas = document.getElementById("usage-chart");
    var source = document.getElementById("usage-data");
    if (!canvas || !source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    new Chart(canvas, {
      data: {
        labels: data.days.map(function (day) { return day.slice(5); }),
        datasets: [
          { type: "bar", label: "Images", data: data.images, backgroundColor: "#3454d1", yAxisID: "images" },
          { type: "line", label: "Credits spent", data: data.credits, borderColor: "#e08a00", backgroundColor: "#e08a00",
            tension: 0.2, yAxisID: "credits" },
        ],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          images: { position: "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "images" } },
          credits: { position: "right", beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false },
            title: { display: true, text: "credits" } },
        },
      },
    });
    canvas.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncModel();
    syncSize();
    drawChart();
  });
})();
