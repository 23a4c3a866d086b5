/*
 * DocChat's browser touches on top of Chainlit's built UI (loaded by `custom_js`, a
 * same-origin file: the CSP forbids inline script). No data is ever put in the page as
 * HTML: everything is built with DOM nodes and textContent.
 *
 * 1. Citation chips: a click on an answer's [n] chip opens a passage panel with exactly
 *    the passage that answer cited (GET /docchat/passages/<message id>), titled with its
 *    number and source, the supporting sentence highlighted, and a note when the
 *    document was deleted since. Nothing opens by itself. (Chainlit's own side panel
 *    opens on every new side element, chainlit issue 2911: see chat/citations.py.)
 * 2. Shared view (/share/<id>): a read-only banner saying who shared it and when.
 * 3. Share dialog: a note saying what a link shares.
 * 4. Login: the raw "Unauthorized: credentialssignin" toast is hidden; the form below
 *    already says "Wrong user name or password." (translations in .chainlit).
 */
(function () {
  "use strict";

  var PANEL_ID = "docchat-passage";
  var cache = {};

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "include", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status === 404 ? "not found" : "HTTP " + r.status);
        return r.json();
      });
  }

  // --- 1. passage panel -----------------------------------------------------------
  function closePanel() {
    var panel = document.getElementById(PANEL_ID);
    if (panel) panel.remove();
    var backdrop = document.getElementById(PANEL_ID + "-backdrop");
    if (backdrop) backdrop.remove();
    document.documentElement.classList.remove("docchat-panel-open");
    document.removeEventListener("keydown", onKey, true);
  }

  function onKey(event) {
    if (event.key === "Escape") closePanel();
  }

  function passageBody(record) {
    var body = el("div", { "class": "docchat-passage-text" });
    var text = String(record.text || "");
    var span = record.highlight;
    if (Array.isArray(span) && span[0] >= 0 && span[1] > span[0] && span[1] <= text.length) {
      body.appendChild(document.createTextNode(text.slice(0, span[0])));
      body.appendChild(el("mark", { "class": "docchat-support" }, text.slice(span[0], span[1])));
      body.appendChild(document.createTextNode(text.slice(span[1])));
    } else {
      body.textContent = text;
    }
    return body;
  }

  function showPanel(title, build) {
    closePanel();
    var backdrop = el("div", { id: PANEL_ID + "-backdrop" });
    backdrop.addEventListener("click", closePanel);
    var panel = el("aside", { id: PANEL_ID, role: "dialog", "aria-labelledby": PANEL_ID + "-title" });
    var header = el("header");
    header.appendChild(el("h2", { id: PANEL_ID + "-title" }, title));
    var close = el("button", { type: "button", "aria-label": "Close passage", title: "Close" }, "\u00d7");
    close.addEventListener("click", closePanel);
    header.appendChild(close);
    panel.appendChild(header);
    var content = el("div", { "class": "docchat-passage-content" });
    panel.appendChild(content);
    build(content);
    document.body.appendChild(backdrop);
    document.body.appendChild(panel);
    document.documentElement.classList.add("docchat-panel-open");
    document.addEventListener("keydown", onKey, true);
    close.focus();
  }

  function renderRecord(content, record) {
    if (record.heading) content.appendChild(el("p", { "class": "docchat-passage-heading" }, record.heading));
    if (record.deleted) {
      content.appendChild(el("p", { "class": "docchat-passage-deleted" },
        "This document has been deleted since this answer; the passage is shown as it was cited."));
    }
    content.appendChild(passageBody(record));
    if (record.highlight) {
      content.appendChild(el("p", { "class": "docchat-passage-hint" },
        "Highlighted: the sentence that supports the answer."));
    }
  }

  function openCitation(messageId, n, label) {
    var load = cache[messageId] || (cache[messageId] = getJSON("/docchat/passages/" + encodeURIComponent(messageId)));
    load.then(function (data) {
      var record = (data.citations || []).filter(function (c) { return c.n === n; })[0];
      if (!record) throw new Error("no passage " + label);
      showPanel(record.label || label, function (content) { renderRecord(content, record); });
    }).catch(function (error) {
      delete cache[messageId];
      showPanel(label, function (content) {
        content.appendChild(el("p", { "class": "docchat-passage-deleted" },
          "This passage could not be loaded (" + error.message + "). Reload the page and try again."));
      });
    });
  }

  window.addEventListener("click", function (event) {
    var chip = event.target && event.target.closest && event.target.closest("a.element-link");
    if (!chip) return;
    var label = (chip.textContent || "").trim();
    var match = /^\[(\d{1,3})\]$/.exec(label);
    var step = chip.closest("[id^='step-']");
    if (!match || !step) return;
    event.preventDefault();
    event.stopPropagation();
    openCitation(step.id.slice("step-".length), parseInt(match[1], 10), label);
  }, true);

  // --- 2. read-only banner on the shared view ---------------------------------------
  var bannerFor = null;

  function formatWhen(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return " on " + d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function updateBanner() {
    var m = /^\/share\/([^/]+)\/?$/.exec(window.location.pathname);
    var id = m ? decodeURIComponent(m[1]) : null;
    if (id === bannerFor) return;
    bannerFor = id;
    var old = document.getElementById("docchat-share-banner");
    if (old) old.remove();
    document.documentElement.classList.remove("docchat-shared-view");
    if (!id) return;
    getJSON("/docchat/share-info/" + encodeURIComponent(id)).then(function (info) {
      if (bannerFor !== id) return;
      var banner = el("div", { id: "docchat-share-banner", role: "status" });
      banner.appendChild(el("strong", {}, "Read-only"));
      banner.appendChild(document.createTextNode(
        " \u00b7 shared by " + (info.author || "its author") + formatWhen(info.shared_at) +
        ". You can read this conversation and open its cited passages, but not reply."));
      document.body.appendChild(banner);
      document.documentElement.classList.add("docchat-shared-view");
    }).catch(function () { /* the page itself says what is wrong */ });
  }

  // --- 3. what a share link shares ------------------------------------------------
  var SHARE_NOTE = "Anyone logged in who has this link can read this conversation, " +
    "read-only: its questions and answers, the passages they cite and the files " +
    "attached to its messages (your original files are included). Unshare to end " +
    "access at once.";

  function annotateShareDialog() {
    var link = document.querySelector("[role='dialog'] span[title*='/share/']");
    if (!link) return;
    var dialog = link.closest("[role='dialog']");
    if (!dialog || dialog.querySelector(".docchat-share-note")) return;
    var box = link.closest(".rounded-md");
    var holder = box && box.parentElement ? box.parentElement : dialog;
    holder.appendChild(el("p", { "class": "docchat-share-note" }, SHARE_NOTE));
  }

  // --- 4. no raw login error toast --------------------------------------------------
  function hideRawLoginToasts() {
    document.querySelectorAll("[data-sonner-toast]").forEach(function (toast) {
      if (/credentialssignin/i.test(toast.textContent || "")) toast.style.display = "none";
    });
  }

  var scheduled = false;
  new MutationObserver(function () {
    if (scheduled) return;
    scheduled = true;
    window.requestAnimationFrame(function () {
      scheduled = false;
      annotateShareDialog();
      hideRawLoginToasts();
      updateBanner();
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
  updateBanner();
})();
