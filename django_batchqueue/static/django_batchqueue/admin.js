/* django_batchqueue admin: live progress for batches shown on the page, and confirm prompts.
 *
 * Elements carrying data-bq-batch="<id>" and data-bq-field="status|progress|counts|compensation"
 * are redrawn from the admin's progress view every few seconds while any shown batch is live
 * (pending, running, or compensating). Polling stops once none is. No dependencies.
 */
(function () {
  "use strict";

  var LABEL_NONE = "\u2014";

  function readConfig() {
    var node = document.getElementById("bq-config");
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function liveIds() {
    var ids = {};
    document.querySelectorAll('[data-bq-field="progress"][data-bq-live="1"]').forEach(function (el) {
      ids[el.getAttribute("data-bq-batch")] = true;
    });
    return Object.keys(ids);
  }

  function setBadge(el, status, label) {
    el.className = "bq-badge " + (status ? "bq-" + status : "bq-none");
    el.textContent = status ? label : LABEL_NONE;
  }

  function share(n, total) { return (100 * n / (total || 1)).toFixed(2) + "%"; }

  function redraw(id, p) {
    document.querySelectorAll('[data-bq-batch="' + id + '"]').forEach(function (el) {
      var field = el.getAttribute("data-bq-field");
      if (field === "status") {
        setBadge(el, p.status, p.status_display);
      } else if (field === "compensation") {
        setBadge(el, p.compensation_status, p.compensation_display);
      } else if (field === "counts") {
        el.querySelector(".bq-n-completed").textContent = p.completed_jobs;
        el.querySelector(".bq-n-failed").textContent = p.failed_jobs;
        el.querySelector(".bq-n-total").textContent = p.total_jobs;
      } else if (field === "more-counts") {
        el.querySelector(".bq-n-cancelled").textContent = p.cancelled_jobs;
        el.querySelector(".bq-n-pending").textContent = p.pending_jobs;
        el.querySelector(".bq-n-active").textContent = p.active_jobs;
        el.querySelector(".bq-n-waiting").textContent = p.waiting_jobs;
      } else if (field === "progress") {
        var leaf = p.leaf || p;  // a tree's bar shows its leaf jobs
        el.querySelector(".bq-seg-completed").style.width = share(leaf.completed_jobs, leaf.total_jobs);
        el.querySelector(".bq-seg-failed").style.width = share(leaf.failed_jobs, leaf.total_jobs);
        el.querySelector(".bq-seg-cancelled").style.width = share(leaf.cancelled_jobs, leaf.total_jobs);
        el.querySelector(".bq-pct").textContent = p.progress_percentage + "%";
        el.setAttribute("aria-valuenow", p.progress_percentage);
        el.setAttribute("data-bq-live", p.live ? "1" : "0");
      }
    });
  }

  function start(config) {
    var timer = null;
    var note = document.getElementById("bq-finished-note");

    function finished() {
      // The batch page: say the job tables are stale, and drop buttons that no longer apply.
      if (note) { note.hidden = false; }
      document.querySelectorAll("[data-bq-while-live]").forEach(function (el) {
        el.parentNode.removeChild(el);
      });
    }

    function stop() {
      if (timer !== null) { clearTimeout(timer); timer = null; }
      document.documentElement.setAttribute("data-bq-polling", "stopped");
    }

    function poll() {
      var ids = liveIds();
      if (!ids.length) { stop(); return; }
      document.documentElement.setAttribute("data-bq-polling", "on");
      var url = config.progressUrl + "?ids=" + encodeURIComponent(ids.join(","));
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("progress view answered " + response.status); }
          return response.json();
        })
        .then(function (data) {
          var wasLive = ids.length;
          Object.keys(data.batches).forEach(function (id) { redraw(id, data.batches[id]); });
          if (wasLive && !liveIds().length) { finished(); }
          schedule();
        })
        .catch(function () { schedule(); });
    }

    function schedule() {
      if (!liveIds().length) { stop(); return; }
      timer = setTimeout(poll, config.intervalMs || 2500);
    }

    schedule();
  }

  function confirmButtons() {
    document.querySelectorAll("[data-bq-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-bq-confirm"))) { event.preventDefault(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmButtons();
    var config = readConfig();
    if (config && config.progressUrl) { start(config); }
  });
})();
