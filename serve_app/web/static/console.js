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
    var img2img = document.getElementById("img2img");
    img2img.disabled = option.dataset.img2img !== "yes";
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
