// Pheme's UI script: a live log tail over the API's Server-Sent Events, and a
// reload when the run's state changes. Plain DOM, no library, no innerHTML:
// every log line is inserted as text.
"use strict";

(function () {
  const KINDS = ["error", "warning", "notice", "debug", "command"];

  function lineKind(text) {
    if (text.startsWith("##[")) {
      const close = text.indexOf("]");
      if (close > 3) {
        const kind = text.slice(3, close);
        if (KINDS.includes(kind)) return [kind, text.slice(close + 1)];
      }
    }
    if (text.startsWith("[command]")) return ["command", text.slice(9)];
    return ["", text];
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function lineNode(number, text, kind) {
    const div = el("div", kind ? "line k-" + kind : "line");
    div.appendChild(el("span", "ln", String(number)));
    div.appendChild(el("span", "t", text));
    return div;
  }

  // Same rules as pheme/web/logs.py: groups do not nest, a new group closes the open one.
  function Tail(log) {
    this.log = log;
    this.next = parseInt(log.dataset.next || "1", 10);
    const last = log.lastElementChild;
    this.group = last && last.matches("details.group[data-unclosed]") ? last : null;
  }

  Tail.prototype.add = function (number, text) {
    if (number < this.next) return; // already shown (a reconnect repeats nothing)
    this.next = number + 1;
    const follow = this.log.scrollTop + this.log.clientHeight >= this.log.scrollHeight - 24;
    if (text.startsWith("##[group]")) {
      const details = el("details", "group");
      details.open = true;
      const summary = el("summary");
      summary.appendChild(el("span", "ln", String(number)));
      summary.appendChild(document.createTextNode(text.slice(9) || "group"));
      details.appendChild(summary);
      this.log.appendChild(details);
      this.group = details;
    } else if (text.startsWith("##[endgroup]")) {
      if (this.group) {
        this.group.removeAttribute("data-unclosed");
        if (!this.group.querySelector(".k-error")) this.group.open = false;
      }
      this.group = null;
    } else {
      const [kind, shown] = lineKind(text);
      (this.group || this.log).appendChild(lineNode(number, shown, kind));
    }
    if (follow) this.log.scrollTop = this.log.scrollHeight;
  };

  function startTail(log) {
    const tail = new Tail(log);
    const base = log.dataset.stream.replace(/([?&])start=\d+/, "$1");
    let source = null;
    let failures = 0;
    function open() {
      const url = base + (base.endsWith("&") || base.endsWith("?") ? "" : "&") + "start=" + (tail.next - 1);
      source = new EventSource(url, { withCredentials: true });
      source.addEventListener("line", function (event) {
        const data = JSON.parse(event.data);
        tail.add(data.n + 1, data.text);
      });
      source.addEventListener("end", function () {
        source.close();
        const note = document.getElementById("live-note");
        if (note) note.textContent = "The job has finished.";
        checkState(true);
      });
      source.addEventListener("line", function () { failures = 0; });
      source.onerror = function () {
        source.close();
        failures += 1;
        if (failures <= 30) setTimeout(open, 2000); // e.g. a restarting server; a lost session stops here
      };
    }
    open();
  }

  // Reload when the run's state (jobs, reviews) changes, unless the user is typing.
  function busy() {
    const active = document.activeElement;
    if (active && (active.tagName === "TEXTAREA" || active.tagName === "INPUT") && active.value) return true;
    return Array.from(document.querySelectorAll("textarea")).some(function (t) { return t.value; });
  }

  let checking = false;
  function checkState(soon) {
    const url = document.body.dataset.stateUrl;
    if (!url || checking) return;
    checking = true;
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        checking = false;
        if (data && data.state !== document.body.dataset.state && !busy()) window.location.reload();
        else if (soon) setTimeout(function () { checkState(false); }, 500);
      })
      .catch(function () { checking = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const log = document.getElementById("log");
    if (log) {
      log.scrollTop = log.scrollHeight;
      if (log.dataset.stream) startTail(log);
    }
    if (document.body.dataset.stateUrl) setInterval(function () { checkState(false); }, 1500);
  });
})();
