// The handheld's scanning app. Served by the device itself (package
// mobile/scan); it talks only to that device's JSON API under /api/.
//
// Scanner model: a hardware scanner types the barcode and presses Enter
// into the scan field, which keeps the focus. A scan fills whichever slot
// the screen waits for (order, location, to location), or the item line:
// item, batch and expiry at once from a GS1 label. Scanning the same item
// again adds to the quantity; Enter on an empty scan field (or Record)
// records the line; scanning a different item records the line first.
//
// Every Enter, Record and Undo goes onto one queue that a single worker
// drains in order, so a scan typed while a request is in flight is taken
// after it, never lost, doubled or glued onto the next one.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // The screens that record operations.
  const SCREENS = {
    receive: { title: "Receive", kind: "receive", slots: ["location"], verb: "Record receive" },
    pick: { title: "Pick", kind: "pick", slots: ["order", "location"], verb: "Record pick" },
    return: {
      title: "Return", kind: "return", slots: ["order", "location"], verb: "Record return", orderInfo: true,
      reasons: [["", "Reason (optional)"], ["customer_return", "Customer return"], ["damaged", "Damaged"], ["wrong_item", "Wrong item sent"]],
    },
    transfer: { title: "Transfer", kind: "transfer", slots: ["location", "to_location"], verb: "Record transfer", labels: { location: "From" } },
    count: { title: "Count", kind: "count", slots: ["location"], verb: "Record count", qtyLabel: "Counted", minQty: 0 },
    adjust: {
      title: "Adjust", kind: "adjust", slots: ["location"], verb: "Record adjustment", signed: true,
      reasons: [["damaged", "Damaged"], ["lost", "Lost"], ["found", "Found"], ["expired", "Expired"], ["correction", "Correction"]],
    },
  };
  const SLOT_LABELS = { order: "Order", location: "Location", to_location: "To location" };

  const state = {
    status: null,
    route: "",
    forms: {}, // per screen: {slots: {}, selected: "", line: null, sign: -1, reason: ""}
    busy: false, // the queue's worker is running
    queue: [], // scans, records and undos not handled yet, oldest first
  };

  // A quantity above this asks for a second Record to confirm it.
  const MAX_QTY = 9999;
  // Keys closer together than this (ms) are a scanner's burst, not a person.
  const BURST_GAP_MS = 80;
  const BURST_MIN_CHARS = 4;

  function form(name) {
    if (!state.forms[name]) {
      state.forms[name] = { slots: { order: "", location: "", to_location: "" }, selected: "", line: null, sign: -1, reason: "" };
    }
    return state.forms[name];
  }

  // ---- API ----------------------------------------------------------

  async function api(method, path, body) {
    const opts = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new Error("The app on this device did not answer: " + e.message);
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data.error && data.error.message) || ("HTTP " + res.status));
      err.code = data.error && data.error.code;
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // ---- Feedback: banner and sound -------------------------------------

  let audio = null;
  const TONES = {
    success: { type: "sine", notes: [[1320, 0.09]] },
    warning: { type: "triangle", notes: [[660, 0.1], [660, 0.1]] },
    error: { type: "square", notes: [[200, 0.35]] },
  };

  function beep(tone) {
    const t = TONES[tone];
    if (!t) return;
    try {
      if (!audio) {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        if (!Ctx) return;
        audio = new Ctx();
      }
      if (audio.state === "suspended") audio.resume();
      let at = audio.currentTime + 0.01;
      for (const [freq, dur] of t.notes) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = t.type;
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.25, at);
        gain.gain.exponentialRampToValueAtTime(0.001, at + dur);
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start(at);
        osc.stop(at + dur);
        at += dur + 0.07;
      }
    } catch (e) {
      // No sound device: the banner still says it.
    }
  }

  function feedback(tone, message, silent) {
    const el = $("feedback");
    el.dataset.tone = tone;
    el.textContent = message;
    if (!silent) {
      // count numbers the outcomes that beeped, for whoever watches the
      // page (the browser test).
      el.dataset.beep = tone;
      el.dataset.count = String(Number(el.dataset.count || "0") + 1);
      beep(tone);
    }
  }

  // ---- Status bar ------------------------------------------------------

  function age(seconds) {
    if (seconds < 0) return "";
    if (seconds < 60) return seconds + "s";
    const m = Math.floor(seconds / 60);
    if (m < 60) return m + "m " + (seconds % 60) + "s";
    const h = Math.floor(m / 60);
    if (h < 48) return h + "h " + (m % 60) + "m";
    return Math.floor(h / 24) + "d";
  }

  // roughAge is an age to the largest unit, for the narrow status bar.
  function roughAge(seconds) {
    if (seconds < 60) return seconds + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m";
    if (seconds < 172800) return Math.floor(seconds / 3600) + "h";
    return Math.floor(seconds / 86400) + "d";
  }

  // What each result means for the person holding the goods.
  const STATE_HELP = {
    flagged: "Posted to stock; a manager will review it.",
    held: "Not posted yet: held until a manager decides.",
    rejected: "Not posted: the server rejected it. Record it again correctly if the goods moved.",
  };

  function renderStatus() {
    const st = state.status;
    if (!st) return;
    const conn = $("conn");
    let text;
    let key = st.connection;
    switch (st.connection) {
      case "online":
        text = "Online" + (st.last_sync_seconds_ago >= 0 ? " · " + roughAge(st.last_sync_seconds_ago) + " ago" : "");
        break;
      case "offline":
        text = "Offline";
        break;
      case "refused":
        text = "Sync refused";
        break;
      case "never":
        text = "Not synced yet";
        break;
      default:
        text = "Not enrolled";
    }
    // A sync in progress is shown next to the state, not instead of it:
    // "Offline · syncing…" still says the last attempt failed.
    conn.dataset.conn = key;
    conn.dataset.syncing = String(!!st.syncing);
    if (st.syncing) text += " · syncing…";
    conn.title = st.connection_message || "";
    $("conn-text").textContent = text;

    const backlog = $("backlog");
    backlog.textContent = "";
    const strong = document.createElement("strong");
    if (st.pending > 0) {
      strong.textContent = "Pending " + st.pending;
      backlog.append(strong, " · oldest " + age(st.oldest_unsent_seconds));
    } else {
      strong.textContent = "Pending 0";
      backlog.append(strong, " · all sent");
    }
    backlog.dataset.waiting = String(st.pending > 0);
    backlog.dataset.pending = String(st.pending);

    const badge = $("problems-badge");
    badge.hidden = !(st.problems > 0);
    badge.textContent = String(st.problems);
    $("sync-now").disabled = !st.enrolled;
    const info = $("device-info");
    if (st.enrolled) {
      info.textContent = (st.device_name || "This handheld") + " · warehouse " + (st.warehouse_name || st.warehouse || "?") +
        " · " + st.items + " items, " + st.locations + " locations pulled · server " + st.server;
    }
    updateUndo();
  }

  // Undo takes back the last scan of a line not recorded yet, else the
  // last operation recorded.
  function updateUndo() {
    const f = SCREENS[state.route] ? form(state.route) : null;
    $("undo").disabled = !((state.status && state.status.can_undo) || (f && f.line));
  }

  async function refreshStatus() {
    try {
      state.status = await api("GET", "/api/status");
    } catch (e) {
      $("conn-text").textContent = "App not answering";
      return;
    }
    renderStatus();
    if (!state.status.enrolled && state.route !== "enroll") {
      route();
    }
  }

  // ---- Routing -----------------------------------------------------------

  function show(id) {
    for (const s of document.querySelectorAll(".screen")) {
      s.hidden = s.id !== id;
    }
  }

  function route() {
    const name = (location.hash || "#/").replace(/^#\/?/, "");
    if (state.status && !state.status.enrolled) {
      state.route = "enroll";
      show("screen-enroll");
      if (document.activeElement === document.body) $("enroll-server").focus();
      return;
    }
    state.route = name;
    if (SCREENS[name]) {
      show("screen-work");
      renderWork();
      loadRecent();
      if (SCREENS[name].orderInfo) loadOrder();
      focusScan();
    } else if (name === "problems") {
      show("screen-problems");
      loadProblems();
    } else {
      state.route = "";
      show("screen-home");
    }
  }

  // ---- Working screens ---------------------------------------------------

  function screen() {
    return SCREENS[state.route];
  }

  // activeSlot is what the next scan fills: a slot the operator tapped,
  // else the first empty one, else the item line.
  function activeSlot() {
    const s = screen();
    const f = form(state.route);
    if (f.selected) return f.selected;
    for (const slot of s.slots) {
      if (!f.slots[slot]) return slot;
    }
    return "item";
  }

  function slotLabel(slot) {
    const s = screen();
    return (s.labels && s.labels[slot]) || SLOT_LABELS[slot] || "Item";
  }

  function renderWork() {
    const s = screen();
    const f = form(state.route);
    $("work-title").textContent = s.title;
    $("record").textContent = s.verb;

    const slots = $("slots");
    slots.textContent = "";
    const active = activeSlot();
    for (const slot of s.slots) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "slot";
      b.id = "slot-" + slot;
      b.dataset.slot = slot;
      b.dataset.active = String(active === slot);
      b.dataset.empty = String(!f.slots[slot]);
      const label = document.createElement("span");
      label.className = "slot-label";
      label.textContent = slotLabel(slot);
      const value = document.createElement("span");
      value.className = "slot-value";
      value.textContent = f.slots[slot] || "scan " + slotLabel(slot).toLowerCase();
      b.append(label, value);
      b.addEventListener("click", () => {
        f.selected = slot;
        renderWork();
        feedback("idle", "Scan the " + slotLabel(slot).toLowerCase() + ".", true);
        focusScan();
      });
      slots.append(b);
    }
    $("scan-label").textContent = active === "item" ? "Scan an item" : "Scan the " + slotLabel(active).toLowerCase();

    const line = f.line;
    $("line").hidden = !line;
    if (!line) updateUndo();
    const reasonWrap = $("reason-wrap");
    reasonWrap.hidden = !s.reasons;
    if (s.reasons) {
      const sel = $("reason");
      if (sel.dataset.screen !== state.route) {
        sel.textContent = "";
        for (const [v, l] of s.reasons) {
          const o = document.createElement("option");
          o.value = v;
          o.textContent = l;
          sel.append(o);
        }
        sel.dataset.screen = state.route;
      }
      sel.value = f.reason || s.reasons[0][0];
    }
    $("sign").hidden = !s.signed;
    $("sign-minus").setAttribute("aria-pressed", String(f.sign < 0));
    $("sign-plus").setAttribute("aria-pressed", String(f.sign > 0));
    $("qty-label").textContent = s.qtyLabel || "Qty";
    if (!line) return;

    $("line").dataset.known = String(line.known);
    $("line-item").textContent = line.known ? line.sku + " · " + line.name : "Unknown: " + line.barcode;
    const meta = [];
    if (line.barcode) meta.push("barcode " + line.barcode);
    if (line.unit) meta.push("unit " + line.unit);
    if (line.gs1) meta.push("GS1 label");
    $("line-meta").textContent = meta.join(" · ");

    const showBatch = !line.known || line.batchTracked;
    $("line-batch-wrap").hidden = !showBatch;
    const batch = $("line-batch");
    batch.value = line.batch || "";
    batch.placeholder = s.kind === "receive" ? "blank: a new batch code is made" :
      (s.kind === "return" ? "blank: matched to what the order shipped" : "required");
    const list = $("batch-list");
    list.textContent = "";
    for (const b of line.batches || []) {
      const o = document.createElement("option");
      o.value = b.code;
      o.label = b.expiry ? "exp " + b.expiry : "";
      list.append(o);
    }
    const showExpiry = s.kind === "receive" && (!line.known || line.batchTracked);
    $("line-expiry-wrap").hidden = !showExpiry;
    $("line-expiry").value = line.expiry || "";
    $("qty").value = String(line.qty);
    $("qty").min = String(s.minQty === 0 ? 0 : 1);
    updateUndo();
  }

  function focusScan() {
    const scan = $("scan");
    if (!$("screen-work").hidden && document.activeElement !== scan) scan.focus();
  }

  // The line's fields as the operator edited them.
  function readLine() {
    const f = form(state.route);
    if (!f.line) return;
    f.line.batch = $("line-batch").value.trim();
    f.line.expiry = $("line-expiry").value;
    const q = parseInt($("qty").value, 10);
    f.line.qty = Number.isFinite(q) ? q : f.line.qty;
    if (screen().reasons) f.reason = $("reason").value;
  }

  function sameItem(line, v) {
    return line.known === v.known && (line.known ? line.sku === v.sku : line.barcode === v.barcode) &&
      (v.batch || "") === (line.scannedBatch || "");
  }

  function lineFrom(v) {
    const it = v.item || {};
    return {
      known: v.known,
      sku: v.sku || "",
      barcode: v.barcode || "",
      name: it.name || "",
      unit: it.unit || "",
      batchTracked: !!it.batch_tracked,
      expiryTracked: !!it.expiry_tracked,
      batches: it.batches || [],
      batch: v.batch || "",
      scannedBatch: v.batch || "",
      expiry: v.expiry || "",
      gs1: v.kind === "gs1",
      perScan: v.qty > 0 ? v.qty : 1,
      qty: v.qty > 0 ? v.qty : 1,
    };
  }

  // ---- The queue -------------------------------------------------------

  // enqueue adds a task ({type: "scan", code} | {type: "record"} |
  // {type: "undo"}) and starts the worker if it is not running.
  function enqueue(task) {
    task.route = state.route;
    state.queue.push(task);
    document.body.dataset.queued = String(state.queue.length);
    drain();
  }

  async function drain() {
    if (state.busy) return;
    state.busy = true;
    document.body.dataset.busy = "true";
    try {
      while (state.queue.length) {
        const task = state.queue.shift();
        document.body.dataset.queued = String(state.queue.length);
        // A task typed on another screen is dropped: the person left it.
        if (task.route !== state.route || !screen()) continue;
        try {
          if (task.type === "scan") await onScan(task.code);
          else if (task.type === "record") await recordLine();
          else if (task.type === "undo") await undo();
        } catch (e) {
          feedback("error", e.message);
        }
      }
    } finally {
      state.busy = false;
      document.body.dataset.busy = "false";
      focusScan();
    }
  }

  // takeScanField empties the scan field and queues what it held: Enter
  // on an empty field records the line.
  function takeScanField() {
    const scan = $("scan");
    const code = scan.value;
    scan.value = "";
    if (code.trim() === "") enqueue({ type: "record" });
    else enqueue({ type: "scan", code });
  }

  async function onScan(code) {
    const f = form(state.route);
    readLine();
    const slot = activeSlot();
    let v;
    try {
      v = await api("POST", "/api/scan", { code, slot });
    } catch (e) {
      feedback("error", e.message);
      return;
    }
    if (v.target === "location" && slot === "item") {
      // A bin scanned while an item was expected: the one already set
      // is confirmed; another one replaces the location (on a transfer
      // it starts a new pair: From, then To).
      if (Object.values(f.slots).includes(v.value)) {
        feedback("success", v.message + " (already set)");
        return;
      }
      f.slots.location = v.value;
      if (screen().slots.includes("to_location")) f.slots.to_location = "";
      renderWork();
      feedback(v.tone, "Location changed: " + v.message);
      return;
    }
    if (v.target !== "item") {
      f.slots[v.target] = v.value;
      f.selected = "";
      renderWork();
      feedback(v.tone, v.message);
      if (v.target === "order" && screen().orderInfo) loadOrder();
      return;
    }
    if (f.line && sameItem(f.line, v)) {
      f.line.qty += v.qty > 0 ? v.qty : 1;
      renderWork();
      feedback("success", (f.line.known ? f.line.sku : f.line.barcode) + ": qty " + f.line.qty);
      return;
    }
    let before = "";
    if (f.line) {
      const r = await recordLine(true);
      if (!r) {
        // The line stays as it was; the new scan is not taken.
        $("feedback").textContent += " The new scan was not taken: scan it again once this is fixed.";
        return;
      }
      before = r.message + " Now: ";
    }
    f.line = lineFrom(v);
    renderWork();
    feedback(v.tone, before + v.message);
  }

  // recordLine records the line; it returns the answer, or null after
  // showing why it was not recorded.
  async function recordLine(quiet) {
    const s = screen();
    const f = form(state.route);
    readLine();
    const line = f.line;
    if (!line) {
      feedback("warning", "Scan an item first.");
      return null;
    }
    for (const slot of s.slots) {
      if (!f.slots[slot]) {
        f.selected = slot;
        renderWork();
        feedback("error", "Not recorded: scan the " + slotLabel(slot).toLowerCase() + " first.");
        return null;
      }
    }
    let qty = line.qty;
    if (s.signed) qty = f.sign * Math.abs(qty);
    if (Math.abs(qty) > MAX_QTY && line.confirmedQty !== qty) {
      // A scan typed into the quantity, or a slip: ask before recording.
      line.confirmedQty = qty;
      feedback("warning", "Not recorded: quantity " + qty + " is unusually large. Check it, and press Record again to record it.");
      return null;
    }
    const body = { kind: s.kind, qty, location: f.slots.location };
    if (line.sku) body.sku = line.sku;
    if (line.barcode) body.barcode = line.barcode;
    if (line.batch) body.batch = line.batch;
    if (s.kind === "receive" && line.expiry) body.expiry = line.expiry;
    if (s.slots.includes("to_location")) body.to_location = f.slots.to_location;
    if (s.slots.includes("order")) body.order = f.slots.order;
    if (s.reasons && f.reason) body.reason = f.reason;
    if (s.reasons && !f.reason && s.kind === "adjust") body.reason = s.reasons[0][0];
    // The line leaves the form before the request goes out, so nothing
    // handled meanwhile adds to it or records it again; it comes back if
    // recording fails.
    f.line = null;
    let r;
    try {
      r = await api("POST", "/api/record", body);
    } catch (e) {
      if (!f.line) f.line = line;
      renderWork();
      feedback("error", e.message);
      return null;
    }
    renderWork();
    if (!quiet) feedback(r.tone, r.message);
    loadRecent();
    refreshStatus();
    if (s.orderInfo) loadOrder();
    return r;
  }

  async function undo() {
    const f = screen() ? form(state.route) : null;
    if (f) readLine();
    if (f && f.line) {
      // A line not recorded yet: take back its last scan, never an
      // operation recorded before it.
      const line = f.line;
      const min = screen().minQty === 0 ? 0 : 1;
      const step = line.perScan || 1;
      const name = line.known ? line.sku : line.barcode;
      if (line.qty - step >= Math.max(min, 1)) {
        line.qty -= step;
        renderWork();
        feedback("success", "Took back the last scan: " + name + " qty " + line.qty + ". Nothing recorded was undone.");
      } else {
        f.line = null;
        renderWork();
        feedback("success", "Took back the scan: the " + name + " line is cleared. Nothing recorded was undone.");
      }
      return;
    }
    try {
      const r = await api("POST", "/api/undo", {});
      feedback(r.tone, r.message);
    } catch (e) {
      feedback(e.status === 409 ? "warning" : "error", e.message);
    }
    loadRecent();
    refreshStatus();
    if (screen() && screen().orderInfo) loadOrder();
    focusScan();
  }

  async function syncNow() {
    const btn = $("sync-now");
    btn.disabled = true;
    btn.textContent = "Syncing…";
    if (state.status) {
      state.status.syncing = true;
      renderStatus();
    }
    try {
      const r = await api("POST", "/api/sync", {});
      if (r.status) state.status = r.status;
      renderStatus();
      feedback(r.tone, r.message);
    } catch (e) {
      feedback("error", e.message);
    } finally {
      btn.textContent = "Sync now";
      btn.disabled = false;
      await refreshStatus();
      if (screen()) loadRecent();
      if (state.route === "problems") loadProblems();
      if (screen() && screen().orderInfo) loadOrder();
      focusScan();
    }
  }

  // ---- Lists ---------------------------------------------------------------

  function opItem(row) {
    const li = document.createElement("li");
    li.className = "op";
    li.dataset.state = row.state;
    li.dataset.opId = row.op.op_id;
    if (row.reversed_by) li.dataset.reversed = "true";
    const title = document.createElement("div");
    title.className = "op-title";
    const st = document.createElement("span");
    st.className = "op-state";
    st.textContent = row.state;
    title.append(st, row.title);
    li.append(title);
    if (row.item_name) {
      const it = document.createElement("div");
      it.className = "op-item";
      it.textContent = row.item_name;
      li.append(it);
    }
    const meta = document.createElement("div");
    meta.className = "op-meta";
    const at = new Date(row.recorded_at);
    const decided = (row.decisions || []).some((x) => x.status === "resolved");
    meta.textContent = "recorded " + at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false }) +
      (STATE_HELP[row.state] && !decided ? " · " + STATE_HELP[row.state] : "");
    li.append(meta);
    if (row.reversal_of) {
      const rv = document.createElement("div");
      rv.className = "op-rev";
      rv.textContent = "↶ undo of #" + row.reversal_of_seq;
      li.append(rv);
    }
    if (row.reversed_by) {
      const rv = document.createElement("div");
      rv.className = "op-rev";
      rv.textContent = "undone by #" + row.reversed_by_seq + " (kept, reversed)";
      li.append(rv);
    }
    const msgs = [];
    if (row.code) msgs.push(row.code.replace(/_/g, " ") + (row.message ? ": " + row.message : ""));
    for (const w of row.warnings || []) msgs.push(w.message);
    for (const m of msgs) {
      const d = document.createElement("div");
      d.className = "op-msg";
      d.textContent = m;
      li.append(d);
    }
    if (row.decision) {
      const d = document.createElement("div");
      d.className = "op-decision";
      d.dataset.decided = String(decided);
      d.textContent = row.decision;
      li.append(d);
    }
    return li;
  }

  function renderList(el, rows, empty) {
    el.textContent = "";
    if (!rows.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = empty;
      el.append(li);
      return;
    }
    for (const r of rows) el.append(opItem(r));
  }

  async function loadRecent() {
    try {
      const r = await api("GET", "/api/ops?limit=6");
      renderList($("recent"), r.ops, "Nothing recorded yet.");
    } catch (e) {
      // The banner shows errors of actions; a list that did not load
      // comes back with the next one.
    }
  }

  async function loadProblems() {
    try {
      const r = await api("GET", "/api/ops?problems=1&limit=100");
      renderList($("problems"), r.ops, "No problems: nothing came back flagged, held or rejected.");
    } catch (e) {
      feedback("error", e.message);
    }
  }

  async function loadOrder() {
    const box = $("order-info");
    const order = form(state.route).slots.order;
    if (!screen() || !screen().orderInfo || !order) {
      box.hidden = true;
      return;
    }
    let v;
    try {
      v = await api("GET", "/api/orders/" + encodeURIComponent(order));
    } catch (e) {
      box.hidden = true;
      return;
    }
    box.textContent = "";
    box.hidden = false;
    const h = document.createElement("strong");
    h.textContent = "Order " + v.order;
    box.append(h);
    const table = (caption, lines) => {
      if (!lines.length) return;
      const t = document.createElement("table");
      const cap = document.createElement("caption");
      cap.textContent = caption;
      t.append(cap);
      for (const l of lines) {
        const tr = document.createElement("tr");
        for (const c of [l.sku, l.batch ? "batch " + l.batch : "", l.qty + (l.pending ? " (" + l.pending + " unsent)" : "")]) {
          const td = document.createElement("td");
          td.textContent = c;
          tr.append(td);
        }
        t.append(tr);
      }
      box.append(t);
    };
    // The server's answer covers every device; without it, only this one.
    const all = v.source === "server";
    table(all ? "Shipped on the order" : "Picked from this device", v.shipped);
    table(all ? "Returned on the order" : "Returned from this device", v.returned);
    const p = document.createElement("p");
    p.textContent = v.message;
    box.append(p);
  }

  // ---- Enrollment ----------------------------------------------------------

  async function enroll() {
    const btn = $("enroll-go");
    btn.disabled = true;
    feedback("idle", "Enrolling…", true);
    try {
      const r = await api("POST", "/api/enroll", {
        server: $("enroll-server").value.trim(),
        code: $("enroll-code").value.trim(),
        name: $("enroll-name").value.trim(),
      });
      feedback(r.tone, r.message);
      await refreshStatus();
      location.hash = "#/";
      route();
    } catch (e) {
      feedback("error", e.message);
    } finally {
      btn.disabled = false;
    }
  }

  // ---- Scanner bursts outside the scan field -------------------------------

  // watchBurst treats a fast burst of keys ending in Enter in el as a scan
  // that landed in the wrong field: el gets its value back, and the burst
  // goes to the scan queue (on a working screen).
  function watchBurst(el) {
    let burst = "";
    let before = "";
    let last = 0;
    el.addEventListener("keydown", (e) => {
      const now = performance.now();
      const fast = now - last < BURST_GAP_MS;
      last = now;
      if (e.key === "Enter") {
        const code = burst;
        burst = "";
        if (!fast || code.length < BURST_MIN_CHARS) return;
        e.preventDefault();
        el.value = before;
        if (screen() && !$("screen-work").hidden) {
          focusScan();
          enqueue({ type: "scan", code });
        } else {
          feedback("warning", "A scan landed in this field and was taken out: type here by hand.");
        }
        return;
      }
      if (e.key.length !== 1 || e.ctrlKey || e.altKey || e.metaKey) {
        if (!(e.ctrlKey && (e.key === "]" || e.code === "BracketRight"))) return;
      }
      if (!fast) {
        burst = "";
        before = el.value;
      }
      burst += e.key.length === 1 && !e.ctrlKey ? e.key : "\x1d";
    });
  }

  // ---- Wiring --------------------------------------------------------------

  function init() {
    const scan = $("scan");
    scan.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        takeScanField();
        return;
      }
      // Keyboard-wedge scanners send FNC1 as GS, which a keyboard types
      // as Ctrl+]. The input keeps it as the character.
      if (e.ctrlKey && (e.key === "]" || e.code === "BracketRight")) {
        e.preventDefault();
        scan.setRangeText("\x1d", scan.selectionStart, scan.selectionEnd, "end");
      }
    });
    for (const id of ["line-batch", "line-expiry", "qty"]) {
      watchBurst($(id));
    }
    for (const id of ["line-batch", "line-expiry", "qty"]) {
      $(id).addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.defaultPrevented) {
          // Enter here only finishes the edit: Record (or Enter in the
          // scan field) records.
          e.preventDefault();
          readLine();
          renderWork();
          focusScan();
        }
      });
      $(id).addEventListener("change", readLine);
    }
    $("reason").addEventListener("change", () => {
      form(state.route).reason = $("reason").value;
      focusScan();
    });
    const step = (d) => {
      const f = form(state.route);
      readLine();
      if (!f.line) return;
      const min = screen().minQty === 0 ? 0 : 1;
      f.line.qty = Math.max(min, f.line.qty + d * (f.line.perScan || 1));
      renderWork();
      focusScan();
    };
    $("qty-minus").addEventListener("click", () => step(-1));
    $("qty-plus").addEventListener("click", () => step(1));
    for (const id of ["sign-minus", "sign-plus"]) {
      $(id).addEventListener("click", (e) => {
        form(state.route).sign = Number(e.currentTarget.dataset.sign);
        readLine();
        renderWork();
        focusScan();
      });
    }
    $("record").addEventListener("click", () => {
      enqueue({ type: "record" });
    });
    $("clear").addEventListener("click", () => {
      const f = form(state.route);
      const had = !!f.line;
      f.line = null;
      renderWork();
      feedback("idle", had ? "Line cleared: nothing was recorded." : "Nothing to clear.", true);
      focusScan();
    });
    $("undo").addEventListener("click", () => enqueue({ type: "undo" }));
    $("sync-now").addEventListener("click", syncNow);
    $("enroll-go").addEventListener("click", enroll);
    $("enroll-code").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.defaultPrevented && !$("enroll-go").disabled) {
        e.preventDefault();
        enroll();
      }
    });
    // A tap anywhere but on a control gives the focus back to the scan
    // field, so the next scan lands there.
    document.addEventListener("click", (e) => {
      if (!e.target.closest("input, select, textarea, button, a")) focusScan();
    });
    window.addEventListener("hashchange", route);
    refreshStatus().then(route);
    setInterval(refreshStatus, 2000);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
