// The Shoal console's pages. Everything from the server is inserted as
// text (el() and textContent), never as markup, so no name, key or value
// can inject HTML. Routes live in the URL fragment: #/page?param=value.
"use strict";

const main = document.getElementById("main");

// el builds an element: attrs are properties or attributes, children are
// nodes or strings (inserted as text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function showError(msg) {
  const box = document.getElementById("error");
  box.textContent = msg || "";
  box.hidden = !msg;
}

class APIError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : "HTTP " + status);
    this.status = status;
    this.kind = body && body.kind;
  }
}

// api calls the console's JSON API; every call carries the header the
// server requires (a cross-origin page cannot send it).
async function api(method, path, params, body) {
  const url = new URL("api/" + path, location.href);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null) url.searchParams.set(k, v);
  }
  const init = { method, headers: { "X-Shoal-Console": "1" }, credentials: "same-origin" };
  if (body instanceof Blob) {
    init.body = body;
    init.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(url, init);
  let data = null;
  try { data = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    // A session that expired shows the login page; a refused login
    // stays on it, with its message.
    if (resp.status === 401 && path !== "login" && me && me.loggedIn) { me = null; render(); }
    throw new APIError(resp.status, data);
  }
  return data;
}

function fmtBytes(n) {
  if (n === undefined || n === null) return "";
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0, v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(1)) + " " + u[i];
}

function fmtTime(t) {
  if (!t || t.startsWith("0001-")) return "";
  return new Date(t).toLocaleString();
}

function ago(t) {
  if (!t || t.startsWith("0001-")) return "";
  const s = Math.max(0, Math.round((Date.now() - new Date(t)) / 1000));
  return s < 60 ? s + " s ago" : Math.round(s / 60) + " min ago";
}

function table(headers, rows, empty) {
  const head = el("tr", {}, headers.map(h => el("th", { class: h.num ? "num" : "" }, h.label || h)));
  const body = rows.length ? rows : [el("tr", {}, el("td", { colSpan: headers.length, class: "muted" }, empty || "none"))];
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(p => p[1] !== undefined && p[1] !== "").map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function card(k, v) { return el("div", { class: "card" }, el("div", { class: "v" }, v), el("div", { class: "k" }, k)); }

function usageBar(used, total) {
  const bar = el("div", { class: "bar", title: fmtBytes(used) + " of " + fmtBytes(total) }, el("div"));
  if (total > 0) bar.firstChild.style.width = Math.min(100, (100 * used) / total).toFixed(1) + "%";
  return bar;
}

// --- routing -----------------------------------------------------------

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [page, query] = h.split("?", 2);
  return { page: page || "overview", params: new URLSearchParams(query || "") };
}

function route(page, params) {
  const q = new URLSearchParams(params || {}).toString();
  const target = "#/" + page + (q ? "?" + q : "");
  if (location.hash === target) render(); else location.hash = target;
}

let me = null;
let gen = 0; // render generation: a stale page's late answer is dropped

async function render() {
  const mine = ++gen;
  showError("");
  const { page, params } = parseHash();
  try {
    if (!me || !me.loggedIn) me = await api("GET", "whoami");
  } catch (e) {
    showError(e.message);
    return;
  }
  const nav = document.getElementById("nav");
  const logout = document.getElementById("logout");
  const who = document.getElementById("who");
  if (!me.loggedIn) {
    nav.hidden = true; logout.hidden = true; who.textContent = "";
    main.replaceChildren(loginPage());
    return;
  }
  nav.hidden = false;
  logout.hidden = me.auth !== "token";
  who.textContent = me.auth === "none" ? "no tokens: acting as root (loopback only)"
    : "uid " + me.uid + ", gid " + me.gid + (me.gids && me.gids.length ? " (+" + me.gids.join(",") + ")" : "") + (me.super ? ", super" : "");
  for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", a.dataset.page === page);
  const pages = { overview, filesystems, browse, kv, s3, workers, loads, login: overview };
  const fn = pages[page] || overview;
  const view = el("section", { id: "page-" + page });
  main.replaceChildren(view);
  try {
    await fn(view, params, () => mine === gen);
  } catch (e) {
    if (mine === gen) showError(e.message);
  }
}

window.addEventListener("hashchange", render);
document.getElementById("logout").addEventListener("click", async () => {
  try { await api("POST", "logout"); } catch (_) { /* gone anyway */ }
  me = null;
  route("overview");
});

// --- pages -------------------------------------------------------------

function loginPage() {
  const input = el("input", { type: "password", id: "token", autocomplete: "current-password", placeholder: "token" });
  const msg = el("div", { class: "muted", id: "login-msg" });
  const form = el("form", {
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        me = await api("POST", "login", null, { token: input.value });
        input.value = "";
        render();
      } catch (e) {
        msg.textContent = e.message;
      }
    },
  }, el("label", { for: "token" }, "Token (a line of the server's tokens file)"), input,
  el("button", { class: "primary", type: "submit", id: "login-btn" }, "Log in"), msg);
  return el("div", { class: "login", id: "page-login" }, el("h1", {}, "Log in to Shoal"), form);
}

async function overview(view) {
  const o = await api("GET", "overview");
  view.append(el("h1", {}, "Overview"),
    el("div", { class: "cards" }, card("version", o.version), card("uptime", o.uptime),
      card("filesystems", o.fsCount), card("client sessions", o.sessions), card("workers", o.workers.length)),
    facts([["roles", o.roles], ["started", fmtTime(o.started)], ["API (gRPC)", o.api.join(", ")],
      ["engine", o.engine], ["block store", o.store], ["data directory", o.dataDir],
      ["S3 gateway", o.s3 || "off"], ["metrics", (o.metrics || []).join(", ")], ["Go", o.go]]),
    el("h2", {}, "Processes"),
    table(["kind", "name", "address", "details"], o.processes.map(p =>
      el("tr", {}, el("td", {}, p.kind), el("td", {}, p.name), el("td", { class: "mono" }, p.addr), el("td", {}, p.info)))));
}

async function filesystems(view) {
  const list = await api("GET", "filesystems");
  view.append(el("h1", {}, "Filesystems"),
    table(["name", { label: "id", num: true }, { label: "used", num: true }, "", { label: "inodes", num: true }, { label: "sessions", num: true }, "created"],
      list.map(f => el("tr", {},
        el("td", {}, el("a", { class: "entry", href: "#/browse?" + new URLSearchParams({ fs: f.name }) }, f.name)),
        el("td", { class: "num" }, f.id), el("td", { class: "num" }, fmtBytes(f.usedBytes)),
        el("td", {}, usageBar(f.usedBytes, f.totalBytes)), el("td", { class: "num" }, f.usedInodes),
        el("td", { class: "num" }, f.sessions.length), el("td", {}, fmtTime(f.created))))));
  for (const f of list) {
    view.append(el("h2", {}, "Sessions on " + f.name),
      table(["id", "client", "host", { label: "pid", num: true }, "address", { label: "open", num: true }, "started", "heartbeat"],
        f.sessions.map(s => el("tr", {}, el("td", { class: "num" }, s.id), el("td", {}, s.client), el("td", {}, s.host),
          el("td", { class: "num" }, s.pid), el("td", { class: "mono" }, s.addr), el("td", { class: "num" }, s.open),
          el("td", {}, fmtTime(s.started)), el("td", {}, ago(s.heartbeat)))), "no sessions"));
  }
}

function joinPath(dir, name) { return dir === "" || dir === "." ? name : dir + "/" + name; }

function crumbs(fsName, dir) {
  const parts = dir === "" || dir === "." ? [] : dir.split("/");
  const out = [el("a", { href: "#/browse?" + new URLSearchParams({ fs: fsName, path: "" }) }, fsName + ":/")];
  parts.forEach((p, i) => {
    if (i > 0) out.push(el("span", { class: "sep" }, "/"));
    out.push(el("a", { href: "#/browse?" + new URLSearchParams({ fs: fsName, path: parts.slice(0, i + 1).join("/") }) }, p));
  });
  return el("div", { class: "crumbs" }, out);
}

async function browse(view, params, current) {
  const fsName = params.get("fs") || "default";
  const dir = (params.get("path") || "").replace(/^\/+/, "");
  const after = params.get("after") || "";
  const fsList = await api("GET", "filesystems");
  const listing = await api("GET", "fs/list", { fs: fsName, path: dir, after, limit: params.get("limit") || 100 });
  if (!current()) return;
  const pick = el("select", { id: "fs-pick", onchange: () => route("browse", { fs: pick.value }) },
    fsList.map(f => el("option", { value: f.name, selected: f.name === fsName }, f.name)));
  const file = el("input", { type: "file", id: "upload-file" });
  const upload = el("button", {
    type: "button", id: "upload-btn", onclick: async () => {
      if (!file.files.length) { showError("choose a file to upload"); return; }
      const f = file.files[0];
      try {
        await api("PUT", "fs/upload", { fs: fsName, path: joinPath(dir, f.name) }, f);
        render();
      } catch (e) { showError("upload " + f.name + ": " + e.message); }
    },
  }, "Upload");
  const dirName = el("input", { type: "text", id: "mkdir-name", placeholder: "new directory" });
  const mkdir = el("button", {
    type: "button", id: "mkdir-btn", onclick: async () => {
      if (!dirName.value) return;
      try {
        await api("POST", "fs/mkdir", null, { fs: fsName, path: joinPath(dir, dirName.value) });
        render();
      } catch (e) { showError("mkdir " + dirName.value + ": " + e.message); }
    },
  }, "Create directory");
  const details = el("div", { id: "stat" });
  const rows = listing.entries.map(e => {
    const p = joinPath(dir, e.name);
    const name = e.type === "dir"
      ? el("a", { class: "entry", href: "#/browse?" + new URLSearchParams({ fs: fsName, path: p }) }, e.name + "/")
      : el("a", { class: "entry", onclick: () => showStat(details, fsName, p) }, e.name);
    const actions = [];
    if (e.type === "file") {
      actions.push(el("a", { class: "entry", href: "api/fs/download?" + new URLSearchParams({ fs: fsName, path: p }), download: e.name }, "download"), " ");
    }
    actions.push(el("button", {
      type: "button", class: "danger", onclick: async () => {
        if (!confirm("Delete " + p + "?")) return;
        try { await api("POST", "fs/delete", null, { fs: fsName, path: p }); render(); } catch (err) { showError("delete " + p + ": " + err.message); }
      },
    }, "delete"));
    return el("tr", { "data-name": e.name }, el("td", {}, name), el("td", { class: "mono" }, e.mode),
      el("td", { class: "num" }, e.type === "dir" ? "" : fmtBytes(e.size)), el("td", { class: "num" }, e.uid + ":" + e.gid),
      el("td", {}, fmtTime(e.mtime)), el("td", {}, actions));
  });
  const pager = el("div", { class: "toolbar" });
  if (after) pager.append(el("a", { class: "entry", href: "#/browse?" + new URLSearchParams({ fs: fsName, path: dir }) }, "first page"));
  if (listing.next) pager.append(el("a", { class: "entry", id: "next-page", href: "#/browse?" + new URLSearchParams({ fs: fsName, path: dir, after: listing.next }) }, "next page"));
  view.append(el("h1", {}, "Files"),
    el("div", { class: "toolbar" }, "filesystem", pick, crumbs(fsName, dir)),
    el("div", { class: "toolbar" }, file, upload, dirName, mkdir),
    table(["name", "mode", { label: "size", num: true }, { label: "owner", num: true }, "modified", ""], rows, "empty directory"),
    pager, details);
}

async function showStat(box, fsName, p) {
  try {
    const s = await api("GET", "fs/stat", { fs: fsName, path: p });
    box.replaceChildren(el("h2", {}, p), facts([["type", s.type], ["mode", s.mode], ["size", s.size + " bytes (" + fmtBytes(s.size) + ")"],
      ["owner", s.uid + ":" + s.gid], ["links", s.nlink], ["inode", s.ino], ["modified", fmtTime(s.mtime)],
      ["changed", fmtTime(s.ctime)], ["target", s.target]]));
  } catch (e) { showError("stat " + p + ": " + e.message); }
}

function showBytes(b) {
  if (!b) return "";
  return b.text !== null ? b.text : "0x" + b.hex;
}

async function kv(view, params, current) {
  const tables = await api("GET", "kv/tables");
  if (!current()) return;
  const name = params.get("table") || (tables[0] && tables[0].name) || "";
  view.append(el("h1", {}, "KV tables"),
    table(["name", { label: "id", num: true }, { label: "default TTL (s)", num: true }, "created"], tables.map(t => el("tr", {},
      el("td", {}, el("a", { class: "entry", href: "#/kv?" + new URLSearchParams({ table: t.name }) }, t.name)),
      el("td", { class: "num" }, t.id), el("td", { class: "num" }, t.defaultTTL || ""), el("td", {}, fmtTime(t.created)))), "no tables"));
  if (!name) return;
  const field = (id, ph) => el("input", { type: "text", id, placeholder: ph, value: params.get(id) || "" });
  const hash = field("hash", "hash key (empty: whole table)"), start = field("start", "start sort key"), stop = field("stop", "stop sort key (exclusive)");
  const go = el("button", {
    type: "button", class: "primary", id: "scan-btn",
    onclick: () => route("kv", { table: name, hash: hash.value, start: start.value, stop: stop.value, scan: "1" }),
  }, "Scan");
  const gh = field("gethash", "hash key"), gs = field("getsort", "sort key");
  const getOut = el("div", { id: "get-out" });
  const get = el("button", {
    type: "button", id: "get-btn", onclick: async () => {
      try {
        const r = await api("GET", "kv/get", { table: name, hash: gh.value, sort: gs.value });
        getOut.replaceChildren(r.found ? el("pre", { class: "value" }, showBytes(r.value)) : el("p", { class: "muted" }, "not found"),
          r.found && r.ttl ? el("p", { class: "muted" }, "expires in " + r.ttl + " s") : "");
      } catch (e) { showError(e.message); }
    },
  }, "Get");
  view.append(el("h2", {}, "Scan " + name), el("p", { class: "muted" }, "Keys are text, or hex after 0x."),
    el("div", { class: "toolbar" }, hash, start, stop, go));
  if (params.get("scan")) {
    const q = { table: name, hash: params.get("hash") || "", start: params.get("start") || "", stop: params.get("stop") || "", limit: 100 };
    if (params.get("after")) q.after = params.get("after");
    const r = await api("GET", "kv/scan", q);
    if (!current()) return;
    view.append(table(["hash key", "sort key", "value", { label: "bytes", num: true }], r.records.map(x => el("tr", {},
      el("td", { class: "mono" }, showBytes(x.hash)), el("td", { class: "mono" }, showBytes(x.sort)),
      el("td", { class: "mono" }, showBytes(x.value)), el("td", { class: "num" }, x.value.len))), "no records in the range"));
    if (r.next) {
      view.append(el("div", { class: "toolbar" }, el("a", { class: "entry", id: "scan-next", href: "#/kv?" + new URLSearchParams({ ...q, scan: "1", after: r.next }) }, "next page")));
    } else if (r.more) {
      view.append(el("p", { class: "muted" }, "more records follow: give a hash key to page through them"));
    }
  }
  view.append(el("h2", {}, "Get a record"), el("div", { class: "toolbar" }, gh, gs, get), getOut);
}

async function s3(view, params, current) {
  const bucket = params.get("bucket");
  if (!bucket) {
    const r = await api("GET", "s3/buckets");
    if (!current()) return;
    view.append(el("h1", {}, "S3 buckets"),
      el("p", { class: "muted" }, r.gateway ? "Gateway at " + r.gateway + ", over the default filesystem: a bucket is a top-level directory." : "The S3 gateway is off; these are the top-level directories it would serve."),
      table(["bucket", "owner", "created"], r.buckets.map(b => el("tr", {},
        el("td", {}, el("a", { class: "entry", href: "#/s3?" + new URLSearchParams({ bucket: b.name }) }, b.name)),
        el("td", { class: "num" }, b.uid + ":" + b.gid), el("td", {}, fmtTime(b.mtime)))), "no buckets"));
    return;
  }
  const prefix = params.get("prefix") || "";
  const r = await api("GET", "s3/keys", { bucket, prefix, after: params.get("after") || "" });
  if (!current()) return;
  const rows = r.entries.map(e => e.type === "dir"
    ? el("tr", {}, el("td", { class: "mono" }, el("a", { class: "entry", href: "#/s3?" + new URLSearchParams({ bucket, prefix: prefix + e.name + "/" }) }, prefix + e.name + "/")), el("td", {}, "prefix"), el("td"), el("td"))
    : el("tr", {}, el("td", { class: "mono" }, prefix + e.name), el("td", {}, "object"), el("td", { class: "num" }, fmtBytes(e.size)), el("td", {}, fmtTime(e.mtime))));
  view.append(el("h1", {}, "s3://" + bucket + "/" + prefix),
    el("div", { class: "toolbar" }, el("a", { class: "entry", href: "#/s3" }, "all buckets")),
    table(["key", "", { label: "size", num: true }, "last modified"], rows, "no keys"));
  if (r.next) view.append(el("div", { class: "toolbar" }, el("a", { class: "entry", href: "#/s3?" + new URLSearchParams({ bucket, prefix, after: r.next }) }, "next page")));
}

async function workers(view) {
  const r = await api("GET", "workers");
  view.append(el("h1", {}, "Workers and cache"),
    table(["worker", "readiness"], r.workers.map(w => el("tr", {}, el("td", { class: "mono" }, w.url), el("td", {}, w.ready))), "no workers"),
    el("h2", {}, "Cache"),
    el("div", { class: "note" }, "Workers keep no dataset cache yet, so there is no cache use to show. ",
      el("a", { class: "entry", href: "#/loads" }, "Load jobs"), " have their own page."));
}

// loads lists the load jobs with live progress (the list is polled each
// second while the page shows), and submits and stops them (the server
// allows that to a super token only).
async function loads(view, params, current) {
  const fsName = params.get("fs") || "default";
  const box = el("div", { id: "load-jobs" });
  const path = el("input", { type: "text", id: "load-path", placeholder: "/path/to/dataset" });
  const verify = el("input", { type: "checkbox", id: "load-verify" });
  const submit = el("button", {
    type: "button", class: "primary", id: "load-submit", onclick: async () => {
      try { await api("POST", "loads/submit", {}, { fs: fsName, path: path.value, verify: verify.checked }); draw(); }
      catch (e) { showError(e.message); }
    },
  }, "Submit");
  view.append(el("h1", {}, "Load jobs"),
    el("p", { class: "muted" }, "A load job reads every file under a path through the workers' caches, split by the ring."),
    el("div", { class: "toolbar" }, path, el("label", {}, verify, " verify"), submit), box);
  async function draw() {
    const js = await api("GET", "loads", { fs: fsName });
    if (!current()) return false;
    box.replaceChildren(table(["job", "state", "path", { label: "files", num: true }, { label: "bytes", num: true }, "progress",
      { label: "failed", num: true }, ""], js.map(j => {
      const frac = j.bytes > 0 ? Math.min(j.done_bytes / j.bytes, 1) : (j.state === "running" ? 0 : 1);
      const stop = j.state === "running" ? el("button", {
        type: "button", class: "load-stop", onclick: async () => {
          try { await api("POST", "loads/stop", {}, { fs: fsName, id: j.id }); draw(); } catch (e) { showError(e.message); }
        },
      }, "Stop") : "";
      return el("tr", { class: "load-job", "data-id": j.id, "data-state": j.state },
        el("td", { class: "mono" }, j.id), el("td", { class: "load-state" }, j.state), el("td", { class: "mono" }, j.path),
        el("td", { class: "num load-files" }, j.done_files + "/" + j.files + (j.listed ? "" : "+")),
        el("td", { class: "num" }, fmtBytes(j.done_bytes) + "/" + fmtBytes(j.bytes)),
        el("td", {}, el("progress", { max: "100", value: String(Math.round(frac * 100)) })),
        el("td", { class: "num" }, j.failed_files), el("td", {}, stop));
    }), "no load jobs"));
    return true;
  }
  if (!(await draw())) return;
  const tick = async () => {
    if (!current()) return;
    try { if (!(await draw())) return; } catch (e) { showError(e.message); }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}

render();
