// The operator's page: read a request file (or a release receipt), show
// what it asks for, send it to the desk, hand back the license file.
// No framework, no build step; the server does all decoding and checking.
(function () {
  "use strict";
  var msgs = JSON.parse(document.getElementById("messages").textContent);
  function t(key) { return msgs[key] || key; }
  function $(id) { return document.getElementById(id); }

  var current = null; // {bytes: Uint8Array, preview: {...}}
  var downloadURL = null;

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showProblem(code, message) {
    var p = $("problem");
    clear(p);
    p.appendChild(el("strong", {}, t("js.err." + code) !== "js.err." + code ? t("js.err." + code) : t("js.err.internal")));
    if (message) p.appendChild(el("span", { "class": "detail" }, " " + message));
    p.setAttribute("data-code", code);
    p.hidden = false;
  }
  function hideProblem() { $("problem").hidden = true; }

  async function post(path, bytes) {
    var res;
    try {
      res = await fetch(path, { method: "POST", body: bytes, headers: { "Content-Type": "application/octet-stream" }, credentials: "same-origin" });
    } catch (e) {
      return { ok: false, code: "network", message: "" };
    }
    if (res.ok) return { ok: true, res: res };
    var body = { error: "internal", message: "" };
    try { body = await res.json(); } catch (e) { /* not JSON: keep generic */ }
    return { ok: false, code: body.error, message: body.message, status: res.status };
  }

  function fact(dl, key, value) {
    if (value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0)) return;
    dl.appendChild(el("dt", {}, t(key)));
    var dd = el("dd", { "data-field": key });
    if (Array.isArray(value)) {
      value.forEach(function (v) { dd.appendChild(el("span", { "class": "tag" }, v)); });
    } else {
      dd.textContent = value;
    }
    dl.appendChild(dd);
  }

  async function load(bytes, name) {
    hideProblem();
    $("step-result").hidden = true;
    $("file-name").textContent = name || "";
    if (bytes.length > 65536) { showProblem("too_large", ""); return; }
    var r = await post("/v1/preview", bytes);
    if (!r.ok) { $("step-check").hidden = true; showProblem(r.code, r.message); return; }
    var p = await r.res.json();
    current = { bytes: bytes, preview: p };
    var dl = $("facts");
    clear(dl);
    if (p.kind === "request") {
      $("check-lead").textContent = t("js.check.request");
      fact(dl, "js.f.order", p.order);
      fact(dl, "js.f.fulfillment", p.fulfillment);
      fact(dl, "js.f.email", p.email);
      fact(dl, "js.f.products", p.products && p.products.length ? p.products : [t("js.all_products")]);
      fact(dl, "js.f.host", p.host);
      var machine = [t("js.class." + p.machine_class) || p.machine_class, p.os, p.hypervisor, p.cloud].filter(Boolean).join(" · ");
      fact(dl, "js.f.machine", machine);
      fact(dl, "js.f.name", p.name);
      fact(dl, "js.f.company", p.company);
      fact(dl, "js.f.created", new Date(p.created).toLocaleString(document.documentElement.lang));
      $("submit").textContent = t("js.submit.request");
      $("pool-row").hidden = false;
    } else {
      $("check-lead").textContent = t("js.check.release");
      fact(dl, "js.f.activation", p.activation);
      fact(dl, "js.f.host", p.host);
      fact(dl, "js.f.reason", p.reason);
      fact(dl, "js.f.created", new Date(p.created).toLocaleString(document.documentElement.lang));
      $("submit").textContent = t("js.submit.release");
      $("pool-row").hidden = true;
    }
    $("step-check").hidden = false;
    $("submit").disabled = false;
    $("submit").focus();
  }

  function readFile(file) {
    if (!file) return;
    if (file.size > 65536) { $("file-name").textContent = file.name; showProblem("too_large", ""); return; }
    var reader = new FileReader();
    reader.onload = function () { load(new Uint8Array(reader.result), file.name); };
    reader.onerror = function () { showProblem("read", ""); };
    reader.readAsArrayBuffer(file);
  }

  function filenameOf(res) {
    var cd = res.headers.get("Content-Disposition") || "";
    var m = /filename="?([^";]+)"?/.exec(cd);
    return m ? m[1] : "license.oat";
  }

  async function submit() {
    if (!current) return;
    hideProblem();
    $("submit").disabled = true;
    $("submit").classList.add("busy");
    var isRequest = current.preview.kind === "request";
    var pool = isRequest ? $("pool").value.trim() : "";
    var url = isRequest ? "/v1/activations" + (pool ? "?pool=" + encodeURIComponent(pool) : "") : "/v1/releases";
    var r = await post(url, current.bytes);
    $("submit").classList.remove("busy");
    if (!r.ok) { $("submit").disabled = false; showProblem(r.code, r.message); return; }
    var out = $("result");
    clear(out);
    if (isRequest) {
      var text = await r.res.text();
      var name = filenameOf(r.res);
      if (downloadURL) URL.revokeObjectURL(downloadURL);
      downloadURL = URL.createObjectURL(new Blob([text], { type: "application/x-pem-file" }));
      out.appendChild(el("p", { "class": "notice ok", id: "done" }, t("js.done.request")));
      var a = el("a", { href: downloadURL, download: name, "class": "button", id: "download" }, t("js.download") + " (" + name + ")");
      out.appendChild(a);
      out.appendChild(el("p", { "class": "muted" }, t("js.next")));
      var details = el("details", { "class": "paste" });
      details.appendChild(el("summary", {}, t("js.show_text")));
      var ta = el("textarea", { id: "license-text", rows: "8", readonly: "", spellcheck: "false" });
      ta.value = text;
      details.appendChild(ta);
      var copy = el("button", { type: "button", "class": "secondary", id: "copy" }, t("js.copy"));
      copy.addEventListener("click", function () {
        ta.select();
        if (navigator.clipboard) navigator.clipboard.writeText(text).then(function () { copy.textContent = t("js.copied"); });
      });
      details.appendChild(copy);
      out.appendChild(details);
    } else {
      var rel = await r.res.json();
      out.appendChild(el("p", { "class": "notice ok", id: "done" }, t("js.done.release")));
      var dl = el("dl", { "class": "facts" });
      fact(dl, "js.f.activation", rel.activation);
      fact(dl, "js.f.host", rel.host);
      fact(dl, "js.f.products", rel.products);
      out.appendChild(dl);
    }
    $("step-result").hidden = false;
  }

  function reset() {
    current = null;
    $("file").value = "";
    $("paste").value = "";
    $("file-name").textContent = "";
    $("step-check").hidden = true;
    $("step-result").hidden = true;
    hideProblem();
  }

  var drop = $("drop");
  $("file").addEventListener("change", function (e) { readFile(e.target.files[0]); });
  ["dragenter", "dragover"].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) readFile(e.dataTransfer.files[0]);
  });
  $("paste-use").addEventListener("click", function () {
    var text = $("paste").value.trim();
    if (!text) return;
    load(new TextEncoder().encode(text), t("js.pasted"));
  });
  $("submit").addEventListener("click", submit);
  $("reset").addEventListener("click", reset);
})();
