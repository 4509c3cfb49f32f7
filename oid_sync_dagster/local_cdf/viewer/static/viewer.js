// Draws a viewer page's chart from its JSON endpoint and keeps the live edge moving: every few seconds it asks
// only for what came after its newest point (`since`, keeping the first load's raw/bucket choice), replaces the
// tail it holds from the answer's `from` on, trims what left the window, and redraws. No page reload.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("viewer-config").textContent);
  const chart = document.getElementById("chart");
  const newestEl = document.getElementById("newest");
  const statusEl = document.getElementById("status");
  const modeEl = document.getElementById("mode");
  let state = null;

  const isBad = (code) => ((code & 0xc0000000) >>> 0) === 0x80000000;
  const isUncertain = (code) => ((code & 0xc0000000) >>> 0) === 0x40000000;
  const iso = (ms) => new Date(ms).toISOString();

  function dataUrl(extra) {
    const query = new URLSearchParams(cfg.query);
    for (const [key, value] of Object.entries(extra)) query.set(key, String(value));
    return cfg.dataUrl + "?" + query.toString();
  }

  async function fetchJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    return body;
  }

  // The value a marker sits at: its own, else the last finite one before it (a Bad point may have none).
  function markerY(ys, i) {
    for (let j = i; j >= 0; j--) if (ys[j] !== null && ys[j] !== undefined) return ys[j];
    return null;
  }

  function markers(x, ys, flags, name, symbol, color, axis) {
    const mx = [], my = [];
    flags.forEach((on, i) => { if (on) { mx.push(x[i]); my.push(markerY(ys, i)); } });
    return { x: mx, y: my, name, type: "scatter", mode: "markers", yaxis: axis,
             marker: { symbol, size: 10, color, line: { width: 2, color } } };
  }

  function panelTraces(panel, index) {
    const axis = index === 0 ? "y" : "y" + (index + 1);
    const out = [];
    const marks = [];
    panel.traces.forEach((trace, k) => {
      const main = k === 0;
      const line = main ? { color: "#1f5fa8", width: 1.5 } : { color: "#9aa5b1", width: 1.5, dash: "dot" };
      if (panel.role === "stopped") { line.shape = "hv"; }
      if (trace.mode === "aggregate") {
        const y = panel.role === "stopped" ? trace.max : trace.average;
        out.push({ x: trace.t, y, name: trace.label + (panel.role === "stopped" ? " (max)" : " (average)"),
                   type: "scatter", mode: "lines", line, yaxis: axis, connectgaps: false,
                   fill: panel.role === "stopped" && main ? "tozeroy" : undefined });
        if (main) {
          out.push({ x: trace.t, y: trace.max, name: "max", type: "scatter", mode: "lines", yaxis: axis,
                     line: { width: 0 }, showlegend: false, hoverinfo: "skip" });
          out.push({ x: trace.t, y: trace.min, name: "min to max", type: "scatter", mode: "lines", yaxis: axis,
                     line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(31,95,168,0.15)" });
          marks.push(markers(trace.t, trace.max, trace.countBad.map((n) => n > 0), "Bad (bucket)", "x", "#c00000", axis));
          marks.push(markers(trace.t, trace.max, trace.countUncertain.map((n) => n > 0), "Uncertain (bucket)",
                             "diamond-open", "#e08a00", axis));
        }
        return;
      }
      const few = trace.t.length < 600;
      out.push({ x: trace.t, y: trace.v, name: trace.label, type: "scatter", yaxis: axis, line,
                 mode: trace.mode === "states" || few ? "lines+markers" : "lines", marker: { size: 4 },
                 fill: panel.role === "stopped" && main ? "tozeroy" : undefined,
                 customdata: trace.status });
      if (trace.mode === "states") out[out.length - 1].line.shape = "hv";
      if (main) {
        marks.push(markers(trace.t, trace.v, trace.status.map(isBad), "Bad", "x", "#c00000", axis));
        marks.push(markers(trace.t, trace.v, trace.status.map(isUncertain), "Uncertain", "diamond-open", "#e08a00", axis));
      }
    });
    return out.concat(marks);
  }

  function draw() {
    const panels = state.panels;
    const n = panels.length;
    const layout = {
      uirevision: cfg.dataUrl,
      margin: { l: 70, r: 20, t: 20, b: 40 },
      legend: { orientation: "h", y: -0.08 },
      hovermode: "x",
      xaxis: { type: "date", range: [iso(state.window.start), iso(state.window.end)], anchor: n === 1 ? "y" : "y" + n },
    };
    const gap = n > 1 ? 0.03 : 0;
    panels.forEach((panel, i) => {
      const top = 1 - i / n, bottom = 1 - (i + 1) / n + gap;
      const title = panel.role === "series" ? panel.unit : panel.role + (panel.unit ? " [" + panel.unit + "]" : "");
      const axis = { domain: [Math.max(0, bottom), top], title: { text: title }, automargin: true };
      if (panel.isString) axis.type = "category";
      layout[i === 0 ? "yaxis" : "yaxis" + (i + 1)] = axis;
    });
    const traces = panels.flatMap(panelTraces);
    Plotly.react(chart, traces, layout, { displaylogo: false, responsive: true });
    const newest = Math.max(...panels.map((p) => (p.newest === null ? -Infinity : p.newest)));
    if (Number.isFinite(newest)) {
      newestEl.textContent = iso(newest);
      newestEl.dataset.t = String(newest);
    }
    const points = panels.reduce((sum, p) => sum + p.traces.reduce((s, t) => s + t.t.length, 0), 0);
    modeEl.textContent = state.mode === "raw" ? `(${points} raw points)` : `(aggregates per ${state.mode})`;
    chart.dataset.mode = state.mode;
    chart.dataset.updated = String(Date.now());
  }

  // Replace the tail of every trace from the answer's `from` on, and drop what left the window.
  function merge(update) {
    update.panels.forEach((panel, i) => {
      const held = state.panels[i];
      held.newest = panel.newest;
      panel.traces.forEach((fresh, k) => {
        const trace = held.traces[k];
        let keepTo = trace.t.findIndex((t) => t >= fresh.from);
        if (keepTo < 0) keepTo = trace.t.length;
        let keepFrom = fresh.mode === "aggregate" ? 0 : trace.t.findIndex((t) => t >= update.window.start);
        if (keepFrom < 0) keepFrom = keepTo;
        for (const [key, column] of Object.entries(trace)) {
          if (Array.isArray(column) && Array.isArray(fresh[key])) {
            trace[key] = column.slice(keepFrom, keepTo).concat(fresh[key]);
          }
        }
      });
    });
    state.window = update.window;
    state.now = update.now;
  }

  function since() {
    const lasts = [];
    state.panels.forEach((p) => p.traces.forEach((t) => { if (t.t.length) lasts.push(t.t[t.t.length - 1]); }));
    return lasts.length ? Math.min(...lasts) : state.window.start - 1;
  }

  async function load() {
    state = await fetchJson(dataUrl({}));
    draw();
  }

  async function poll() {
    try {
      const update = await fetchJson(dataUrl({ since: since(), granularity: state.mode }));
      if (update.mode !== state.mode) {
        state = update;
      } else {
        merge(update);
        // The server draws a trace raw while it holds fewer than maxRaw points; once one outgrows that, buckets.
        const full = state.panels.some((p) => p.traces.some((t) => t.mode === "raw" && t.t.length >= cfg.maxRaw));
        if (state.mode === "raw" && full) state = await fetchJson(dataUrl({}));
      }
      draw();
      statusEl.textContent = "";
    } catch (error) {
      statusEl.textContent = "Update failed: " + error.message;
    }
    setTimeout(poll, cfg.pollMs);
  }

  load().then(() => { if (state.window.live) setTimeout(poll, cfg.pollMs); })
        .catch((error) => { statusEl.textContent = "Could not load the data: " + error.message; });
})();
