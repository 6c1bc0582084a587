/* The panel's own script. Every page works without it; where it runs it
 * adds seven things, each found by a data- attribute the templates write:
 *
 * - textarea[data-markdown]: a toolbar whose buttons wrap or prefix the
 *   selection with the Markdown the site builder accepts (sitegen/markup.py);
 *   the button labels come from the textarea's data-md-* attributes, so they
 *   are in the page's language.
 * - form[data-upload-progress]: sent with XMLHttpRequest, a <progress> bar
 *   and a percentage (announced politely) while the files go up; the page
 *   the server returns (after any redirect) then replaces this one, as a
 *   plain submit would show it, errors beside their fields included. A
 *   file input with data-max-bytes is checked first: files over it together
 *   get its data-too-large message beside it and nothing is sent.
 * - select[data-signatures]: choosing another address swaps the signature
 *   at the end of the textarea data-signature-of names for that address's
 *   (without the script the page comes with the default address's).
 * - input[data-complete] with a <datalist>: its options become the
 *   addresses the URL in data-complete suggests for what is typed after the
 *   last comma (without the script the page's own list completes one).
 * - ol[data-reorder]: its items can be dragged; a drop posts the same
 *   up/down forms the buttons of each item post, one step at a time, so
 *   the server has one way to move a block.
 * - form[data-autosave] (webmail's message form): while what is typed
 *   changes, it is saved to Drafts every data-autosave seconds (the form's
 *   own "Save draft", without its files), each save replacing the one
 *   before (the UID comes back into the form's draft_uid); the time of the
 *   last save is announced in [data-autosave-status]. Send or Save draft
 *   waits for a save under way, so it does not leave a second draft.
 * - form[data-drag-to-folder] (a webmail list): its rows can be dragged
 *   onto a folder of the folder list (li[data-folder]); a drop posts the
 *   list's own form with that folder chosen and "Move" pressed, for the
 *   dragged row or, when it is ticked, every ticked row, and shows the
 *   page the server returns. The menu stays for the keyboard.
 *
 * No inline script or style anywhere (CSP default-src 'self').
 */
(function () {
  "use strict";

  /* ---- Markdown toolbar ---- */

  function replaceSelection(area, start, end, text, selStart, selEnd) {
    area.setRangeText(text, start, end, "end");
    area.setSelectionRange(start + selStart, start + selEnd);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function wrap(area, before, after) {
    var start = area.selectionStart, end = area.selectionEnd;
    var chosen = area.value.slice(start, end);
    // Spaces chosen with a word stay outside the marks: "** bold**" is not bold.
    var lead = chosen.match(/^\s*/)[0], trail = chosen.slice(lead.length).match(/\s*$/)[0];
    var inner = chosen.slice(lead.length, chosen.length - trail.length);
    replaceSelection(area, start, end, lead + before + inner + after + trail,
                     lead.length + before.length, lead.length + before.length + inner.length);
  }

  function link(area) {
    var start = area.selectionStart, end = area.selectionEnd;
    var chosen = area.value.slice(start, end).trim();
    var text = "[" + chosen + "](https://)";
    // The address is chosen, ready to be typed over.
    replaceSelection(area, start, end, text, chosen.length + 3, text.length - 1);
  }

  function prefixLines(area, prefix) {
    var value = area.value;
    var start = value.lastIndexOf("\n", area.selectionStart - 1) + 1;
    var end = value.indexOf("\n", Math.max(area.selectionEnd - 1, start));
    if (end < 0) { end = value.length; }
    var lines = value.slice(start, end).split("\n").map(function (line, i) {
      return prefix(i) + line.replace(/^(\s*([-*+]|\d+\.|#{1,6})\s+)/, "");
    });
    var text = lines.join("\n");
    // A list or heading needs a blank line before it (and a list after it)
    // not to be read as part of the paragraph around it.
    var before = start > 0 && value.slice(0, start - 1).split("\n").pop().trim() !== "" ? "\n" : "";
    var after = end < value.length && value.slice(end + 1).split("\n")[0].trim() !== "" ? "\n" : "";
    replaceSelection(area, start, end, before + text + after, before.length, before.length + text.length);
  }

  var ACTIONS = [
    ["mdBold", function (area) { wrap(area, "**", "**"); }],
    ["mdItalic", function (area) { wrap(area, "*", "*"); }],
    ["mdLink", link],
    ["mdBullets", function (area) { prefixLines(area, function () { return "- "; }); }],
    ["mdNumbers", function (area) { prefixLines(area, function (i) { return (i + 1) + ". "; }); }],
    ["mdHeading", function (area) { prefixLines(area, function () { return "# "; }); }]
  ];

  function markdownToolbar(area) {
    var bar = document.createElement("div");
    bar.className = "md-toolbar";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", area.dataset.markdown);
    if (area.id) { bar.setAttribute("aria-controls", area.id); }
    ACTIONS.forEach(function (action) {
      var label = area.dataset[action[0]];
      if (!label) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = label;
      if (area.id) { button.setAttribute("aria-controls", area.id); }
      button.addEventListener("click", function () {
        area.focus();
        action[1](area);
      });
      bar.appendChild(button);
    });
    area.parentNode.insertBefore(bar, area);
  }

  /* ---- Showing a page the server returned ---- */

  function showPage(html, url) {
    // The returned page replaces this one as a plain submit would show it;
    // its own copy of this script sets it up again.
    if (url && url !== location.href && window.history && history.pushState) {
      history.pushState(null, "", url);
    }
    document.open();
    document.write(html);
    document.close();
  }

  function target(form) {
    // Not form.action: a field named "action" (the block forms have one) hides it.
    return new URL(form.getAttribute("action") || "", location.href).href;
  }

  /* ---- Upload progress ---- */

  function fieldError(input, message) {
    // The same list beside the field the server's page would show.
    var id = input.id + "-error", list = document.getElementById(id);
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (d) {
      return d && d !== id;
    });
    if (!message) {
      if (list) { list.parentNode.removeChild(list); }
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", described.join(" "));
      input.parentNode.classList.remove("invalid");
      return;
    }
    if (!list) {
      list = document.createElement("ul");
      list.className = "errors";
      list.id = id;
      input.parentNode.insertBefore(list, input.nextSibling);
    }
    list.textContent = "";
    var item = document.createElement("li");
    item.textContent = message;
    list.appendChild(item);
    input.parentNode.classList.add("invalid");
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", described.concat([id]).join(" "));
    input.focus();
  }

  function tooLarge(form) {
    // A file input with data-max-bytes: the files chosen in it, together,
    // within that (the server answers a larger form 413 before reading it).
    var found = null;
    Array.prototype.forEach.call(form.querySelectorAll("input[type=file][data-max-bytes]"), function (input) {
      var total = 0;
      Array.prototype.forEach.call(input.files || [], function (f) { total += f.size; });
      var over = total > parseInt(input.dataset.maxBytes, 10);
      fieldError(input, over ? input.dataset.tooLarge : "");
      if (over && !found) { found = input; }
    });
    return found;
  }

  function uploadProgress(form) {
    if (!form.querySelector("input[type=file]") || !window.FormData || !window.XMLHttpRequest) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var over = tooLarge(form);
      if (over) {
        over.focus();
        return;
      }
      var submitter = event.submitter;
      if (form.autosaving) {
        // A draft being saved: send once it is, with its UID in the form.
        form.autosaving.then(function () { form.requestSubmit(submitter); });
        return;
      }
      var data = new FormData(form);
      // The button pressed is part of a plain submit (Send or Save draft).
      if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
      var box = form.querySelector(".upload-progress");
      if (!box) {
        box = document.createElement("p");
        box.className = "upload-progress";
        box.setAttribute("role", "status");
        box.setAttribute("aria-live", "polite");
        var bar = document.createElement("progress");
        bar.max = 100;
        bar.value = 0;
        bar.setAttribute("aria-label", form.dataset.uploadProgress);
        var figure = document.createElement("span");
        figure.textContent = "0 %";
        box.appendChild(bar);
        box.appendChild(document.createTextNode(" "));
        box.appendChild(figure);
        form.appendChild(box);
      }
      var progress = box.querySelector("progress"), shown = box.querySelector("span");
      var buttons = form.querySelectorAll("button[type=submit], button:not([type])");
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", target(form));
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        var percent = Math.round(100 * e.loaded / e.total);
        progress.value = percent;
        // Read out every tenth only, not at each event.
        if (percent === 100 || Math.floor(percent / 10) !== Math.floor(parseInt(shown.textContent, 10) / 10)) {
          shown.textContent = percent + " %";
        }
      });
      xhr.addEventListener("load", function () {
        var input = form.querySelector("input[type=file][data-too-large]");
        if (xhr.status === 413 && input) {
          // Refused before it was read: nothing changed, the form stays.
          box.parentNode.removeChild(box);
          Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
          fieldError(input, input.dataset.tooLarge);
          return;
        }
        showPage(xhr.responseText, xhr.responseURL);
      });
      xhr.addEventListener("error", function () {
        // The connection failed: a plain submit says why as the browser would.
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        HTMLFormElement.prototype.submit.call(form);
      });
      xhr.send(data);
    });
  }

  /* ---- Saving a message to Drafts as it is written ---- */

  function autosave(form) {
    var seconds = parseInt(form.dataset.autosave, 10);
    var status = form.querySelector("[data-autosave-status]");
    var uid = form.querySelector("input[name=draft_uid]");
    if (!seconds || !uid || !window.fetch || !window.FormData) { return; }

    function typed() {
      // What the person wrote: every text field but the form's own.
      var out = [];
      new FormData(form).forEach(function (value, name) {
        if (typeof value === "string" && name !== "csrf" && name !== "draft_uid") { out.push(name + "=" + value); }
      });
      return out.join("&");
    }

    var saved = typed(), savedAt = Date.now();
    window.setInterval(function () {
      // The interval is read each time: a page may change it.
      var every = 1000 * parseInt(form.dataset.autosave, 10);
      var now = typed();
      if (form.autosaving || now === saved || Date.now() - savedAt < every) { return; }
      var data = new FormData(form);
      data.delete("attachment");
      data.set("draft", "1");
      data.set("autosave", "1");
      form.autosaving = fetch(target(form), {method: "POST", body: data, credentials: "same-origin"})
        .then(function (reply) { return reply.ok ? reply.json() : Promise.reject(reply.status); })
        .then(function (answer) {
          uid.value = answer.draft;
          saved = now;
          var time = new Date().toLocaleTimeString(document.documentElement.lang, {hour: "2-digit", minute: "2-digit"});
          if (status) { status.textContent = form.dataset.autosaveSaved.replace("{time}", time); }
        }, function () {
          if (status) { status.textContent = form.dataset.autosaveFailed; }
        })
        .then(function () {
          savedAt = Date.now();
          form.autosaving = null;
        });
    }, 1000);
  }

  /* ---- The signature of the address chosen ---- */

  function signatureSwap(select) {
    var area = document.getElementById(select.dataset.signatureOf);
    var all;
    try { all = JSON.parse(select.dataset.signatures); } catch (e) { return; }
    if (!area || !all) { return; }
    var current = select.value;
    function block(address) {
      // As the server writes it (RFC 3676 4.3): the "-- " line, then the text.
      return all[address] ? "\n\n-- \n" + all[address] + "\n" : "";
    }
    select.addEventListener("change", function () {
      var before = block(current), after = block(select.value);
      current = select.value;
      var text = area.value, at = before ? text.lastIndexOf(before) : -1;
      if (at >= 0) {
        text = text.slice(0, at) + after + text.slice(at + before.length);
      } else if (!before || text.indexOf("\n-- \n") < 0) {
        // No signature of ours to take out (edited away): one is added at the end.
        text = text.replace(/\n+$/, "") + after;
      } else {
        return;  // A signature changed by hand stays as it is.
      }
      area.value = text;
      area.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  /* ---- Completing the last address of a list ---- */

  function completion(input) {
    var list = input.list, pending = null, asked = "";
    if (!list || !window.fetch) { return; }
    input.addEventListener("input", function () {
      // Only the address after the last comma is completed; the options
      // carry what comes before it, so choosing one keeps the others.
      var value = input.value, cut = Math.max(value.lastIndexOf(","), value.lastIndexOf(";")) + 1;
      var before = value.slice(0, cut), typed = value.slice(cut).trim();
      if (before && !/\s$/.test(before)) { before += " "; }
      if (typed.length < 1 || typed === asked) { return; }
      asked = typed;
      if (pending) { pending.abort(); }
      pending = new AbortController();
      fetch(input.dataset.complete + "?q=" + encodeURIComponent(typed), {
        credentials: "same-origin", signal: pending.signal
      }).then(function (reply) {
        return reply.ok ? reply.json() : [];
      }).then(function (found) {
        list.textContent = "";
        found.forEach(function (f) {
          var option = document.createElement("option");
          option.value = before + f.address;
          if (f.name) { option.textContent = f.name; }
          list.appendChild(option);
        });
      }, function () { /* a newer question replaced this one */ });
    });
  }

  /* ---- Drag to reorder ---- */

  function stepForm(item, action) {
    var input = item.querySelector("form input[name=action][value=" + action + "]");
    return input ? input.form : null;
  }

  function post(form) {
    return fetch(target(form), {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin"
    });
  }

  function reorder(list) {
    var items = Array.prototype.slice.call(list.children);
    var dragged = null;
    items.forEach(function (item) {
      item.draggable = true;
      item.addEventListener("dragstart", function (e) {
        dragged = item;
        item.classList.add("dragging");
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", String(items.indexOf(item) + 1));
      });
      item.addEventListener("dragend", function () {
        item.classList.remove("dragging");
        items.forEach(function (i) { i.classList.remove("drop-here"); });
      });
      item.addEventListener("dragover", function (e) {
        if (dragged === null) { return; }
        e.preventDefault();
        e.dataTransfer.dropEffect = "move";
        items.forEach(function (i) { i.classList.toggle("drop-here", i === item && i !== dragged); });
      });
      item.addEventListener("drop", function (e) {
        if (dragged === null) { return; }
        e.preventDefault();
        var from = items.indexOf(dragged), to = items.indexOf(item);
        dragged = null;
        if (from === to) { return; }
        // Block n moves one place per post, up or down, through the forms
        // of the places it passes (their addresses name the place).
        var steps = [];
        if (to < from) {
          for (var k = from; k > to; k--) { steps.push(stepForm(items[k], "up")); }
        } else {
          for (var m = from; m < to; m++) { steps.push(stepForm(items[m], "down")); }
        }
        if (steps.some(function (s) { return s === null; })) { return; }
        list.setAttribute("aria-busy", "true");
        var chain = Promise.resolve(null);
        steps.forEach(function (form) {
          chain = chain.then(function (failed) {
            if (failed) { return failed; }
            return post(form).then(function (reply) { return reply.ok ? null : reply; });
          });
        });
        chain.then(function (failed) {
          if (failed) {
            return failed.text().then(function (html) { showPage(html, null); });
          }
          location.reload();
        }, function () { location.reload(); });
      });
    });
  }

  /* ---- Drag messages to a folder ---- */

  function dragToFolder(form) {
    var select = form.querySelector("select[name=target]");
    var nav = document.querySelector("nav.mail-folders");
    if (!select || !nav || !form.querySelector("button[name=action][value=move]")) { return; }
    // Only the folders the menu offers (not the one listed) take a drop.
    var offered = Array.prototype.map.call(select.options, function (o) { return o.value; });
    var folders = Array.prototype.filter.call(nav.querySelectorAll("li[data-folder]"), function (li) {
      return offered.indexOf(li.getAttribute("data-folder")) !== -1;
    });
    var dragged = null;
    Array.prototype.forEach.call(form.querySelectorAll("tbody tr"), function (row) {
      var box = row.querySelector("input[type=checkbox][name=m]");
      if (!box) { return; }
      row.draggable = true;
      row.addEventListener("dragstart", function (e) {
        var ticked = Array.prototype.filter.call(form.querySelectorAll("input[type=checkbox][name=m]"),
                                                 function (b) { return b.checked; });
        dragged = box.checked ? ticked : [box];
        row.classList.add("dragging");
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", row.textContent.trim().replace(/\s+/g, " "));
      });
      row.addEventListener("dragend", function () {
        dragged = null;
        row.classList.remove("dragging");
        folders.forEach(function (li) { li.classList.remove("drop-here"); });
      });
    });
    folders.forEach(function (li) {
      li.addEventListener("dragover", function (e) {
        if (dragged === null) { return; }
        e.preventDefault();
        e.dataTransfer.dropEffect = "move";
        folders.forEach(function (f) { f.classList.toggle("drop-here", f === li); });
      });
      li.addEventListener("dragleave", function () { li.classList.remove("drop-here"); });
      li.addEventListener("drop", function (e) {
        if (dragged === null) { return; }
        e.preventDefault();
        // The same fields the form sends when "Move" is pressed.
        var data = new FormData(form);
        data.delete("m");
        dragged.forEach(function (b) { data.append("m", b.value); });
        data.set("target", li.getAttribute("data-folder"));
        data.set("action", "move");
        dragged = null;
        form.setAttribute("aria-busy", "true");
        fetch(target(form), {
          method: "POST",
          body: new URLSearchParams(data),
          credentials: "same-origin"
        }).then(function (reply) {
          return reply.text().then(function (html) { showPage(html, reply.url); });
        }, function () { location.reload(); });
      });
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("textarea[data-markdown]"), markdownToolbar);
    Array.prototype.forEach.call(document.querySelectorAll("form[data-upload-progress]"), uploadProgress);
    Array.prototype.forEach.call(document.querySelectorAll("form[data-autosave]"), autosave);
    Array.prototype.forEach.call(document.querySelectorAll("ol[data-reorder]"), reorder);
    Array.prototype.forEach.call(document.querySelectorAll("select[data-signatures]"), signatureSwap);
    Array.prototype.forEach.call(document.querySelectorAll("input[data-complete]"), completion);
    Array.prototype.forEach.call(document.querySelectorAll("form[data-drag-to-folder]"), dragToFolder);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
