/* The page's only script: filters, order and expansion. Plain DOM: it reads data-* attributes and moves, hides
   and opens the rendered case elements; no document value ever becomes markup here. */
(function () {
  "use strict";
  var list = document.getElementById("case-list");
  var cases = Array.prototype.slice.call(document.querySelectorAll(".case"));
  var boxes = Array.prototype.slice.call(document.querySelectorAll(".filters input[type=checkbox]"));
  var orders = Array.prototype.slice.call(document.querySelectorAll('.filters input[name="order"]'));
  var shown = document.getElementById("visible-count");
  var none = document.getElementById("no-match");
  // Failures first: failed, then blocked, then the rest; checklist order (data-index) within each.
  var RANK = { failed: 0, blocked: 1 };

  function rank(item) {
    var value = RANK[item.dataset.outcome];
    return value === undefined ? 2 : value;
  }
  function checked(kind) {
    var values = {};
    boxes.forEach(function (box) { if (box.dataset.filter === kind && box.checked) { values[box.value] = true; } });
    return values;
  }
  function apply() {
    var outcomes = checked("outcome"), services = checked("service"), visible = 0;
    cases.forEach(function (item) {
      var show = outcomes[item.dataset.outcome] === true && services[item.dataset.service] === true;
      item.hidden = !show;
      if (show) { visible += 1; }
    });
    shown.textContent = String(visible);
    if (none) { none.hidden = visible !== 0 || cases.length === 0; }
  }
  function reorder() {
    var failuresFirst = orders.some(function (radio) { return radio.checked && radio.value === "failures"; });
    cases.slice().sort(function (a, b) {
      return (failuresFirst ? rank(a) - rank(b) : 0) || Number(a.dataset.index) - Number(b.dataset.index);
    }).forEach(function (item) { list.appendChild(item); });
  }
  function showAll() {
    boxes.forEach(function (box) { box.checked = true; });
    apply();
  }
  // A link to a case (from "Changed since") opens it, first clearing filters that would hide it.
  function reveal(id) {
    var target = document.getElementById(id);
    if (!target || !target.classList.contains("case")) { return; }
    if (target.hidden) { showAll(); }
    target.open = true;
  }
  function openAll(open) {
    return function () { cases.forEach(function (item) { if (!item.hidden) { item.open = open; } }); };
  }

  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  orders.forEach(function (radio) { radio.addEventListener("change", reorder); });
  document.getElementById("expand-all").addEventListener("click", openAll(true));
  document.getElementById("collapse-all").addEventListener("click", openAll(false));
  document.getElementById("show-all").addEventListener("click", showAll);
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest('a[href^="#case-"]') : null;
    if (link) { reveal(decodeURIComponent(link.getAttribute("href").slice(1))); }
  });
  if (location.hash) { reveal(decodeURIComponent(location.hash.slice(1))); }
  reorder();
  apply();
})();
